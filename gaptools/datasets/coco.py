"""COCO-style annotation files: official ``captions_*.json`` and Karpathy split JSON.

Official (``captions_train2014.json``)::

    {"images": [{"id": 391895, "file_name": "COCO_val2014_000000391895.jpg"}, ...],
     "annotations": [{"id": 770337, "image_id": 391895, "caption": "A man ..."}, ...]}

Karpathy (``dataset_coco.json``, ``dataset_flickr30k.json``)::

    {"images": [{"filepath": "val2014", "filename": "...jpg", "cocoid": 391895, "split": "test",
                 "sentences": [{"raw": "A man ...", ...}, ...]}, ...]}

Image ids are the COCO ids where the file has them, else the file names.
"""

from __future__ import annotations

import os
import posixpath

from gaptools.datasets.files import read_json
from gaptools.datasets.records import CaptionRecords, check_unique, group_captions
from gaptools.errors import InputError

KARPATHY_SPLITS = ("train", "restval", "val", "test")


def read_coco(
    path: str | os.PathLike, *, split: str | None = None, skip_empty: bool = False, dataset: str | None = None
) -> CaptionRecords:
    """Read an official COCO captions JSON or a Karpathy split JSON (detected from its keys).

    Parameters
    ----------
    path : path-like
    split : str, optional
        Karpathy files only: ``train``, ``restval``, ``val``, ``test`` or a ``+``-joined
        union such as ``train+restval`` (the usual 113k-image training set). None: all.
    skip_empty : bool
        Drop empty captions instead of raising.
    dataset : str, optional
        Name for ``meta``; default ``coco`` or the Karpathy file's ``dataset`` field.
    """
    doc = read_json(path)
    if isinstance(doc, dict) and "annotations" in doc:
        if split is not None:
            raise InputError(
                f"{path}: --split applies to Karpathy split files; an official captions_*.json is already one split"
            )
        return _read_official(doc, path, skip_empty=skip_empty, dataset=dataset or "coco")
    if isinstance(doc, dict) and isinstance(doc.get("images"), list) and all(
        isinstance(im, dict) and "sentences" in im for im in doc["images"][:1]
    ):
        return read_karpathy(doc, path, split=split, skip_empty=skip_empty, dataset=dataset)
    raise InputError(
        f"{path}: not a COCO captions file",
        hint="expected official {'images', 'annotations'} or Karpathy {'images': [{'sentences', 'split', ...}]}",
    )


def _field(item: dict, key: str, path, what: str, i: int):
    if not isinstance(item, dict) or key not in item:
        raise InputError(f"{path}: {what} #{i} has no {key!r} field")
    return item[key]


def _read_official(doc: dict, path, *, skip_empty: bool, dataset: str) -> CaptionRecords:
    images = doc.get("images")
    if not isinstance(images, list):
        raise InputError(f"{path}: 'images' must be a list of {{'id', 'file_name'}}")
    files = {}
    for i, im in enumerate(images):
        image_id = str(_field(im, "id", path, "image", i))
        if image_id in files:
            raise InputError(f"{path}: duplicate image id {image_id!r} in 'images'")
        files[image_id] = str(_field(im, "file_name", path, "image", i))
    annotations = doc["annotations"]
    if not isinstance(annotations, list):
        raise InputError(f"{path}: 'annotations' must be a list")
    check_unique(
        (str(_field(a, "id", path, "annotation", i)) for i, a in enumerate(annotations)), what="annotation id", source=str(path)
    )
    order = {image_id: n for n, image_id in enumerate(files)}
    entries = []
    for i, a in enumerate(annotations):
        image_id = str(_field(a, "image_id", path, "annotation", i))
        if image_id not in files:
            raise InputError(f"{path}: annotation id {a['id']} names image {image_id}, which is not in 'images'")
        entries.append((order[image_id], image_id, str(_field(a, "caption", path, "annotation", i)), f"annotation id {a['id']}"))
    entries.sort(key=lambda e: e[0])  # images in file order, captions in file order within each (stable sort)
    return group_captions(
        ((image_id, files[image_id], caption, where) for _, image_id, caption, where in entries),
        dataset=dataset, source=str(path), skip_empty=skip_empty,
    )


def parse_split(split: str | None, path) -> set[str] | None:
    """``"train+restval"`` -> ``{"train", "restval"}``; None stays None."""
    if split is None:
        return None
    parts = {s.strip() for s in split.split("+")}
    unknown = sorted(parts - set(KARPATHY_SPLITS))
    if unknown:
        raise InputError(f"{path}: unknown split {', '.join(unknown)}", hint=f"Karpathy splits are {', '.join(KARPATHY_SPLITS)}, joined with '+'")
    return parts


def read_karpathy(
    doc: dict, path, *, split: str | None = None, skip_empty: bool = False, dataset: str | None = None
) -> CaptionRecords:
    """Karpathy split JSON, already parsed (see :func:`read_coco` for the arguments)."""
    wanted = parse_split(split, path)
    entries = []
    ids = []
    for i, im in enumerate(doc["images"]):
        filename = str(_field(im, "filename", path, "image", i))
        if wanted is not None and _field(im, "split", path, "image", i) not in wanted:
            continue
        image_id = str(im["cocoid"]) if "cocoid" in im else filename
        ids.append(image_id)
        file = posixpath.join(im["filepath"], filename) if im.get("filepath") else filename
        sentences = _field(im, "sentences", path, "image", i)
        for j, sentence in enumerate(sentences):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            if raw is None:
                raise InputError(f"{path}: image {filename} sentence #{j} has no 'raw' caption")
            entries.append((image_id, file, str(raw), f"image {filename} sentence #{j}"))
    check_unique(ids, what="image", source=str(path))
    return group_captions(
        entries, dataset=dataset or str(doc.get("dataset", "karpathy")), source=str(path), split=split, skip_empty=skip_empty
    )


def read_coco_results(path: str | os.PathLike) -> list[dict]:
    """Read a COCO results file of generated captions, ``[{"image_id": int | str, "caption": str}, ...]``."""
    doc = read_json(path)
    if not isinstance(doc, list):
        raise InputError(f"{path}: predictions must be a JSON list of {{\"image_id\", \"caption\"}} objects "
                         f"(COCO results layout; expected a JSON list, got {type(doc).__name__})")
    for n, entry in enumerate(doc):
        if (not isinstance(entry, dict) or not isinstance(entry.get("caption"), str)
                or not isinstance(entry.get("image_id"), (int, str)) or isinstance(entry.get("image_id"), bool)):
            raise InputError(f"{path}: entry {n} is not an object {{\"image_id\": int or str, \"caption\": str}}: "
                             f"{entry!r:.80}")
    return doc
