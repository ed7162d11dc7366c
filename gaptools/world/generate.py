"""Writing a world to disk and reading it back.

Layout of a world folder::

    world.json      manifest: kind, version, params (seed included), counts
    captions.json   Karpathy layout: {"images": [{"filename", "filepath", "split", "imgid",
                    "sentids", "sentences": [{"raw", "tokens", "imgid", "sentid"}]}]}
    scenes.json     {"images": [{"filename", "imgid", "split", "background", "objects"}]}
    images/         000000.png, 000001.png, ...

The folder is built under a temporary name beside the target and renamed into place
(:func:`gaptools.outputs.building_folder`), so a world on disk is always complete.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from gaptools.atomic import write_json
from gaptools.datasets.files import read_json
from gaptools.errors import InputError, LockedError
from gaptools.limits import check_world
from gaptools.outputs import LOCK_FILE, WORLD, building_folder, check_output_folder, run_lock
from gaptools.world.captions import write_captions
from gaptools.world.draw import draw_scene
from gaptools.world.scene import (
    CAPTION_STREAM,
    DRAW_STREAM,
    FILL_NAMING_STREAM,
    NAMING_STREAM,
    WorldParams,
    filename,
    sample_scene,
)

WORLD_KIND = "gaptools.world"
WORLD_VERSION = 1
MANIFEST, CAPTIONS, SCENES, IMAGES = "world.json", "captions.json", "scenes.json", "images"


def world_items(params: WorldParams, indices: Iterable[int] | None = None) -> Iterator[dict]:
    """The images of a world, in memory, one at a time.

    Parameters
    ----------
    params : WorldParams
    indices : iterable of int, optional
        Which images (default: all). Each image depends only on ``params`` and its index.

    Yields
    ------
    dict
        ``{"imgid", "filename", "split", "scene", "captions", "image"}`` with ``image`` a PIL RGB image.
    """
    for i in range(params.n_images) if indices is None else indices:
        scene = sample_scene(params, i)
        yield {
            "imgid": i,
            "filename": filename(i),
            "split": params.split_of(i),
            "scene": scene,
            "captions": world_captions(params, i, scene),
            "image": draw_scene(scene, params.image_size, params.rng(i, DRAW_STREAM), clutter=params.clutter,
                                jitter=params.jitter, rotation=params.rotation, lighting=params.lighting),
        }


def world_captions(params: WorldParams, index: int, scene: dict | None = None) -> list[str]:
    """The captions of image ``index`` (its scene sampled again unless given); no pixel is drawn."""
    scene = sample_scene(params, index) if scene is None else scene
    return write_captions(scene, params.captions_per_image, params.rng(index, CAPTION_STREAM), mention=params.mention,
                          style=params.style, name_looks=params.name_looks, naming_rng=params.rng(index, NAMING_STREAM),
                          name_fills=params.name_fills, fill_rng=params.rng(index, FILL_NAMING_STREAM))


def _tokens(caption: str) -> list[str]:
    return re.findall(r"[a-z]+", caption.lower())


def manifest(params: WorldParams) -> dict:
    """The ``world.json`` content of a world."""
    from gaptools._version import __version__

    val, test = params.split_sizes()
    return {
        "kind": WORLD_KIND,
        "version": WORLD_VERSION,
        "params": dataclasses.asdict(params),
        "splits": {"train": params.n_images - val - test, "val": val, "test": test},
        "created_by": f"gaptools {__version__}",
    }


def generate_world(out: str | os.PathLike, params: WorldParams,
                   progress: Callable[[int], None] | None = None) -> bool:
    """Write a world folder (see the module docstring).

    Parameters
    ----------
    out : path-like
        Target folder: absent, empty, or holding the same world (then nothing is written).
    params : WorldParams
    progress : callable, optional
        Called with 1 after each image.

    Returns
    -------
    bool
        True if the world was written, False if ``out`` already held this world.

    Raises
    ------
    InputError
        ``out`` holds a different world or other files, or the world would not fit the
        memory budget (:func:`gaptools.limits.check_world`).
    """
    out = Path(out)
    check_world(params.n_images, params.image_size)  # its memory against the budget, before any work
    if _check_target(out, params):
        return False
    remove_stale_staging(out)
    with building_folder(out, kind=WORLD) as tmp, run_lock(tmp, command="world generate"):
        (tmp / IMAGES).mkdir()
        karpathy, scenes, sentid = [], [], 0
        for item in world_items(params):
            item["image"].save(tmp / IMAGES / item["filename"], format="PNG")
            sentences = []
            for caption in item["captions"]:
                sentences.append({"raw": caption, "tokens": _tokens(caption), "imgid": item["imgid"], "sentid": sentid})
                sentid += 1
            common = {"filepath": "", "filename": item["filename"], "imgid": item["imgid"], "split": item["split"]}
            karpathy.append({**common, "sentids": [s["sentid"] for s in sentences], "sentences": sentences})
            scenes.append({**common, **item["scene"]})
            if progress is not None:
                progress(1)
        write_json(tmp / CAPTIONS, {"dataset": "shapes-world", "images": karpathy})
        write_json(tmp / SCENES, {"images": scenes})
        write_json(tmp / MANIFEST, manifest(params))
    return True


#: A staging folder without a lock file (one from before the lock, or made a moment ago) is
#: left alone until it has not changed for this long.
STALE_SECONDS = 60


def remove_stale_staging(out: str | os.PathLike) -> list[Path]:
    """Remove what killed runs of :func:`generate_world` left beside ``out``; returns what was removed.

    A run builds its world in a hidden staging folder beside ``out``
    (``.NAME.XXXXXXXX.tmp``, :func:`gaptools.outputs.building_folder`) and holds a lock in it
    (:func:`gaptools.outputs.run_lock`); ``kill -9`` leaves the folder behind. Only folders of
    exactly that name for this ``out`` are touched (never a link), and only stale ones: their
    lock is free (the kernel released it when the process died), or, without a lock file,
    unchanged for :data:`STALE_SECONDS`. A live run's folder is never removed.
    """
    out = Path(out)
    staging = re.compile(rf"\.{re.escape(out.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    removed = []
    if not out.parent.is_dir():
        return removed
    for path in sorted(out.parent.iterdir()):
        if not staging.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
            continue
        if not (path / LOCK_FILE).exists() and time.time() - path.stat().st_mtime < STALE_SECONDS:
            continue
        try:
            with run_lock(path, command="world generate (clean-up)"):
                shutil.rmtree(path, ignore_errors=True)
        except LockedError:  # a live run
            continue
        removed.append(path)
    return removed


def _check_target(out: Path, params: WorldParams) -> bool:
    """True if ``out`` already holds this world; raise if it holds anything else."""
    if not check_output_folder(out, kind=WORLD, option="-o", reuse=True):
        return False
    existing = read_manifest(out)
    if {**dataclasses.asdict(WorldParams()), **existing["params"]} != dataclasses.asdict(params):  # older manifests lack newer levers
        raise InputError(
            f"{out}: holds a different world ({_diff(existing['params'], dataclasses.asdict(params))})",
            hint="choose a new folder; nothing was overwritten",
        )
    return True


def _diff(old: dict, new: dict) -> str:
    return ", ".join(f"{k}={old.get(k)!r} there, {new.get(k)!r} asked" for k in new if old.get(k) != new.get(k))


def read_manifest(folder: str | os.PathLike) -> dict:
    """Read and check ``world.json`` of a world folder."""
    path = Path(folder) / MANIFEST
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("kind") != WORLD_KIND or "params" not in doc:
        raise InputError(f"{path}: not a gaptools world manifest")
    if doc.get("version") != WORLD_VERSION:
        raise InputError(f"{path}: world version {doc.get('version')} is not supported (expected {WORLD_VERSION})")
    return doc


def world_params(folder: str | os.PathLike) -> WorldParams:
    """The :class:`WorldParams` a world folder was generated with."""
    doc = read_manifest(folder)
    try:
        return WorldParams(**doc["params"])
    except TypeError as exc:
        raise InputError(f"{Path(folder) / MANIFEST}: bad params ({exc})") from None


def load_scenes(folder: str | os.PathLike) -> list[dict]:
    """The true scenes of a world folder (``scenes.json``), one dict per image."""
    return _image_list(folder, SCENES)


def load_captions(folder: str | os.PathLike) -> list[dict]:
    """The Karpathy-layout image entries of a world folder (``captions.json``)."""
    return _image_list(folder, CAPTIONS)


def _image_list(folder: str | os.PathLike, name: str) -> list[dict]:
    read_manifest(folder)
    doc = _read_json(Path(folder) / name)
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise InputError(f"{Path(folder) / name}: expected {{\"images\": [...]}}")
    return doc["images"]


def _read_json(path: Path):
    if not path.is_file():
        raise InputError(f"{path}: no such file", hint="is this a folder made by `gaptools world generate`?")
    return read_json(path)
