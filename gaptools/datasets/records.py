"""Caption records: the images of a dataset, their captions and the grouping between them.

Every reader in :mod:`gaptools.datasets` returns :class:`CaptionRecords`; the embedding loop
(:func:`gaptools.embed.embed_dataset`) consumes them. Pure Python and NumPy: no torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from gaptools.errors import InputError
from gaptools.validation import contained_path

#: How many offending items an error message lists.
SHOW = 5


@dataclasses.dataclass
class CaptionRecords:
    """Captions grouped by image, in reading order.

    Attributes
    ----------
    image_id : list of str, length N_img
        Unique image identifiers (file names, COCO ids).
    image_file : list of str, length N_img
        Image file of each image: relative to an images folder, or absolute once resolved.
    caption : list of str, length N_txt
        Caption strings (surrounding whitespace stripped, never empty).
    text_image : ndarray, shape (N_txt,), int64
        Index into ``image_id`` of the image each caption describes.
    dataset : str
        Dataset name recorded in the embedding set's ``meta``.
    split : str or None
        Split name recorded in ``meta`` (None: the whole file).
    source : str
        The annotation file, for messages.
    """

    image_id: list[str]
    image_file: list[str]
    caption: list[str]
    text_image: np.ndarray
    dataset: str
    split: str | None = None
    source: str = "<memory>"

    @property
    def n_image(self) -> int:
        return len(self.image_id)

    @property
    def n_text(self) -> int:
        return len(self.caption)

    def fingerprint(self) -> str:
        """SHA-256 of the ids, files, captions and grouping (what the embeddings depend on)."""
        digest = hashlib.sha256()
        for part in (self.image_id, self.image_file, self.caption):
            for item in part:
                digest.update(item.encode("utf-8"))
                digest.update(b"\0")
            digest.update(b"\1")
        digest.update(np.ascontiguousarray(self.text_image, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def select_images(self, keep: np.ndarray) -> "CaptionRecords":
        """Keep some images and their captions, renumbering ``text_image``.

        Parameters
        ----------
        keep : ndarray, shape (N_img,), bool
        """
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1  # (N_img,) new row of each kept image
        text_keep = keep[self.text_image]
        return dataclasses.replace(
            self,
            image_id=[i for i, k in zip(self.image_id, keep) if k],
            image_file=[f for f, k in zip(self.image_file, keep) if k],
            caption=[c for c, k in zip(self.caption, text_keep) if k],
            text_image=new_index[self.text_image[text_keep]].astype(np.int64),
        )


def group_captions(
    entries: Iterable[tuple[str, str, str, str]],
    *,
    dataset: str,
    source: str,
    split: str | None = None,
    skip_empty: bool = False,
) -> CaptionRecords:
    """Group ``(image_id, image_file, caption, where)`` entries by image, in first-seen order.

    Parameters
    ----------
    entries : iterable of (str, str, str, str)
        One per caption; ``where`` locates it in the file (``"line 12"``) for messages.
    dataset, source, split
        Stored on the records.
    skip_empty : bool
        Drop empty captions instead of raising.

    Returns
    -------
    CaptionRecords

    Raises
    ------
    InputError
        An image id with two different files, empty captions (unless ``skip_empty``), or
        no captions at all.
    """
    index: dict[str, int] = {}
    image_file: list[str] = []
    captions: list[str] = []
    text_image: list[int] = []
    empty: list[str] = []
    for image_id, file, caption, where in entries:
        caption = caption.strip()
        if not caption:
            empty.append(where)
            continue
        row = index.setdefault(image_id, len(index))
        if row == len(image_file):
            image_file.append(file)
        elif image_file[row] != file:
            raise InputError(f"{source}: image id {image_id!r} names two files, {image_file[row]!r} and {file!r} ({where})")
        captions.append(caption)
        text_image.append(row)
    if empty and not skip_empty:
        raise InputError(
            f"{source}: {len(empty)} empty caption(s), first at {', '.join(empty[:SHOW])}",
            hint="fix the file or pass --skip-empty to drop them",
        )
    if not captions:
        raise InputError(f"{source}: no captions found" + (f" for split {split!r}" if split else ""))
    return CaptionRecords(
        image_id=list(index),
        image_file=image_file,
        caption=captions,
        text_image=np.asarray(text_image, dtype=np.int64),
        dataset=dataset,
        split=split,
        source=source,
    )


def check_unique(ids: Iterable[str], *, what: str, source: str) -> None:
    """Raise :class:`InputError` listing the first few ids that occur more than once."""
    seen: set[str] = set()
    dups: list[str] = []
    for item in ids:
        if item in seen:
            dups.append(item)
        seen.add(item)
    if dups:
        raise InputError(f"{source}: {len(dups)} duplicate {what}(s), first: {', '.join(map(repr, dups[:SHOW]))}")


def resolve_images(
    records: CaptionRecords,
    root: str | os.PathLike | None,
    *,
    skip_missing: bool = False,
    allow_absolute: bool = False,
) -> tuple[CaptionRecords, int]:
    """Turn image files into absolute paths under ``root`` and deal with missing ones.

    Every file name comes from the annotation file, so each is resolved inside ``root``:
    one that leaves it (``..``) or is absolute is refused, naming the image
    (:func:`gaptools.validation.contained_path`).

    Parameters
    ----------
    records : CaptionRecords
    root : path-like or None
        Folder the relative image files live in; None: relative to the annotation file's folder.
    skip_missing : bool
        Drop missing images (and their captions) instead of raising.
    allow_absolute : bool
        Accept absolute file names as they are (``--allow-absolute-paths``).

    Returns
    -------
    records : CaptionRecords
        With absolute ``image_file``.
    n_missing : int
        How many images were dropped.
    """
    base = Path(root) if root is not None else Path(records.source).resolve().parent
    if root is not None and not base.is_dir():
        raise InputError(f"{base}: images folder not found")
    option = "--images" if root is not None else None
    paths = [str(contained_path(base, f, what=f"file of image {i!r}", source=records.source, option=option,
                                allow_absolute=allow_absolute, allow_flag="--allow-absolute-paths").resolve())
             for i, f in zip(records.image_id, records.image_file)]
    present = np.fromiter((os.path.isfile(p) for p in paths), dtype=bool, count=len(paths))
    records = dataclasses.replace(records, image_file=paths)
    n_missing = int((~present).sum())
    if n_missing == 0:
        return records, 0
    first = [p for p, ok in zip(paths, present) if not ok][:SHOW]
    if n_missing == len(paths) or not skip_missing:
        raise InputError(
            f"{base}: {n_missing} of {len(paths)} image(s) missing, first: {', '.join(first)}",
            hint="check --images" + ("" if n_missing == len(paths) else ", or pass --skip-missing to go on without them"),
        )
    return records.select_images(present), n_missing
