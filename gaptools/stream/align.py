"""Streaming ``align``: fit the moment-based aligners from one pass over a folder, apply any aligner shard by shard.

Fitting: the methods whose state is a function of moments
(:meth:`~gaptools.align.base.Aligner.fits_from_statistics`: ``mean``, ``center``,
``standardize``, ``moment``, ``pca-rotation``, ``pca-rotation-paper``, ``procrustes``,
``coral``, and ``realign`` with a second pass for the mean of its projected rows) answer
:class:`~gaptools.align.statistics.FitStatistics` from the moments of
:mod:`gaptools.stream.stats`, with the formulas the in-memory fit runs, so the state equals
the in-memory fit on the same data up to rounding. Transport and memory methods need rows,
not moments, and refuse with the size of their in-memory fit.

Applying: every aligner maps rows one by one, so :func:`apply_folder` maps the folder shard
by shard into the same layout. Each shard's files are written atomically; a manifest in the
output folder records the aligner's checksum, the input folder (symbolic links resolved) and,
for each finished shard, its output files' checksums and what identifies its input files
(:func:`input_identity`: resolved path, size, modification time, rows, dtype). A rerun skips a
finished shard only when both check out, aligns again a shard whose input changed, and refuses
another aligner, direction or input folder. The run lock of :mod:`gaptools.outputs` is held on
the output folder meanwhile, so a second run into it stops at once, naming the first.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from gaptools.align.base import Aligner
from gaptools.align.persist import SavedAligner
from gaptools.align.registry import METHODS, aligner_class, make_aligner
from gaptools.align.sets import apply_to_set
from gaptools.align.statistics import FitStatistics
from gaptools.atomic import write_json
from gaptools.errors import InputError
from gaptools.io import load_npz, save_set
from gaptools.outputs import LOCK_FILE, resolved, run_lock
from gaptools.stream.engine import ProgressFn, map_each, map_reduce, require_scale
from gaptools.stream.shards import (
    NPZ_SETS,
    NpyWriter,
    Shard,
    ShardFolder,
    copy_file,
    file_sha256,
    iter_chunks,
    open_folder,
    output_paths,
)
from gaptools.stream.stats import StatsConfig, StreamStats, merge_all, shard_stats

#: Methods that fit from streamed moments.
STREAMABLE_METHODS = tuple(name for name, cls in METHODS.items() if cls.fits_from_statistics())
#: The manifest `apply_folder` keeps in its output folder.
MANIFEST = "gaptools-apply.json"
MANIFEST_KIND = "gaptools.align.apply"
MANIFEST_VERSION = 2  # 2: the input folder (resolved) and each shard's input files are recorded
#: Parameters that bound what a row-based method holds in memory when it fits.
_IN_MEMORY_LIMITS = ("max_fit_points", "memory_size")


class FolderStatistics(FitStatistics):
    """:class:`FitStatistics` answered from the statistics of a streamed pass over a folder.

    Parameters
    ----------
    stats : StreamStats
        Gathered on raw vectors (``normalize=False``), with pair moments for supervised methods.
    folder : ShardFolder
    client, progress
        Where :meth:`mapped_mean` runs its second pass (see :func:`~gaptools.stream.engine.map_reduce`).
    """

    def __init__(self, stats: StreamStats, folder: ShardFolder, client=None, progress: ProgressFn | None = None):
        self._moments = {"image": stats.image, "text": stats.text}
        self._pairs = stats.pairs
        self._folder, self._client, self._progress = folder, client, progress
        self.dim = folder.dim

    def count(self, side):
        return self._moments[side].n

    def mean(self, side):
        return self._moments[side].mean_a

    def gaussian(self, side):
        m = self._moments[side]
        return m.mean_a, m.cov(ddof=1)

    def mean_var(self, side):
        m = self._moments[side]
        return m.mean_a, np.diag(m.m2) / m.n

    def pair_moments(self, *, center=True):
        p = self._pairs
        if center:
            return p.mean_a, p.mean_b, p.m2
        zeros = np.zeros(self.dim)
        return zeros, zeros, p.m2 + p.n * np.outer(p.mean_a, p.mean_b)

    def mapped_mean(self, side, fn):
        total = map_reduce(functools.partial(_mapped_sum, side=side, fn=fn), self._folder.shards, _add_sums,
                           client=self._client, progress=self._progress)
        return total / self.count(side)


def _mapped_sum(shard: Shard, *, side: str, fn) -> np.ndarray:
    """Σ fn(rows) over one shard's rows of ``side``, float64 (D,)."""
    total = None
    for chunk in iter_chunks(shard):
        part = fn(chunk.image if side == "image" else chunk.text).sum(axis=0, dtype=np.float64)
        total = part if total is None else total + part
    return total


def _add_sums(*parts: np.ndarray) -> np.ndarray:
    return functools.reduce(np.add, parts)


def check_streamable(method: str) -> None:
    """Refuse, in one line naming its in-memory limit, a method that cannot fit from moments."""
    cls = aligner_class(method)
    if cls.fits_from_statistics():
        return
    defaults = make_aligner(method).get_params()
    limits = ", ".join(f"{k}={defaults[k]}" for k in _IN_MEMORY_LIMITS if k in defaults)
    held = f" it holds rows in memory ({limits} by default, a seeded subsample of each modality)" if limits else ""
    raise InputError(
        f"'{method}' is not fitted from moments, so it cannot be fitted on the streaming path:{held}",
        hint=f"fit it in memory on a set that fits (e.g. a sample of the folder): gaptools align fit SET.npz "
             f"--method {method}; methods that stream: {', '.join(STREAMABLE_METHODS)}",
    )


def fit_folder(method: str, path, params: dict | None = None, *, client=None,
               progress: ProgressFn | None = None) -> tuple[Aligner, dict]:
    """Fit aligner ``method`` on every image and caption of a folder, from one streamed pass.

    Parameters
    ----------
    method : str
        One of :data:`STREAMABLE_METHODS`.
    path : path-like or ShardFolder
    params : dict, optional
        Hyper-parameters.
    client : distributed.Client, optional
        None: Dask's threaded scheduler here.
    progress : callable, optional
        ``progress(done, total)`` per shard (per pass).

    Returns
    -------
    aligner : Aligner
        Fitted; equal to ``fit_on_set`` on the folder as one set, up to rounding.
    train : dict
        What a saved aligner records about its training data.

    Examples
    --------
    >>> import os, gaptools
    >>> os.makedirs("shards", exist_ok=True)
    >>> for k in range(3):  # a folder of three .npz sets
    ...     _ = gaptools.save_set(gaptools.planted_gap(200, 16, seed=k), f"shards/part{k}.npz")
    >>> aligner, train = gaptools.fit_folder("coral", "shards")
    >>> aligner.name, train["n_image"]
    ('coral', 600)
    """
    check_streamable(method)
    aligner = make_aligner(method, params)
    aligner._check_params()
    require_scale()
    folder = path if isinstance(path, ShardFolder) else open_folder(path)
    cfg = StatsConfig(normalize=False, summable=False, pairs=aligner.supervised)
    stats = map_reduce(functools.partial(shard_stats, cfg=cfg), folder.shards, merge_all,
                       client=client, progress=progress)
    aligner.fit_statistics(FolderStatistics(stats, folder, client, progress))
    train = {"source": folder.path, "meta": {"layout": folder.layout, "shards": len(folder.shards), "streamed": True},
             "n_image": folder.n_image, "n_text": folder.n_text}
    return aligner, train


# --------------------------------------------------------------------------- apply


def apply_folder(saved: SavedAligner, path, out, *, direction: str | None = None, float16: bool = False,
                 client=None, progress: ProgressFn | None = None) -> dict:
    """Map a folder shard by shard into ``out`` (same layout), resumably.

    Parameters
    ----------
    saved : SavedAligner
        From :func:`gaptools.align.load_aligner`.
    path : path-like or ShardFolder
        The folder to align.
    out : path-like
        Output folder: absent, empty, or holding an earlier run of this same command.
    direction : str, optional
        Overrides the direction saved with the aligner.
    float16 : bool
        Store float16 (default: each shard's own dtype).
    client, progress
        See :func:`~gaptools.stream.engine.map_reduce`.

    Returns
    -------
    dict
        ``{"out", "manifest", "shards", "written", "skipped"}``.

    Raises
    ------
    InputError
        Bad shards (before any write), a dimension mismatch, an output folder that is the
        input or holds it, or holds something else (another aligner, another input, files
        gaptools did not write).
    LockedError
        Another run is writing into ``out``.

    Examples
    --------
    >>> import os, gaptools
    >>> os.makedirs("shards", exist_ok=True)
    >>> for k in range(3):  # a folder of three .npz sets
    ...     _ = gaptools.save_set(gaptools.planted_gap(200, 16, seed=k), f"shards/part{k}.npz")
    >>> aligner, train = gaptools.fit_folder("mean", "shards")
    >>> saved = gaptools.load_aligner(gaptools.save_aligner(aligner, "mean.aligner", train=train))
    >>> done = gaptools.apply_folder(saved, "shards", "aligned")
    >>> done["written"], round(gaptools.measure("aligned", bootstrap=0)["centroid_gap"], 2)
    (3, 0.02)
    """
    require_scale()
    folder = path if isinstance(path, ShardFolder) else open_folder(path)
    aligner = saved.aligner
    direction = direction or saved.direction
    if folder.dim != aligner.dim_:
        raise InputError(f"{saved.path}: the aligner was fitted on {aligner.dim_}-dimensional embeddings "
                         f"but {folder.path} has {folder.dim}")
    out = Path(out)
    _check_outside_input(out, Path(folder.path))
    _check_output_folder(out)  # before the lock file goes into a folder that is not ours
    with run_lock(out, command="gaptools align apply"):  # one writer: a second run is refused, naming the first
        _check_output_folder(out)  # again: filled while we waited for the lock?
        manifest = _open_manifest(out, saved, direction, folder, float16)
        done = manifest["shards"]
        task = functools.partial(_apply_shard, direction=direction, out=str(out), float16=float16, label=saved.path)
        items = [(shard, done.get(shard.name), input_identity(shard)) for shard in folder.shards]
        counts = {"written": 0, "skipped": 0}

        def record(index: int, result: dict) -> None:
            counts["skipped" if result.pop("skipped") else "written"] += 1
            done[folder.shards[index].name] = result
            write_json(out / MANIFEST, manifest)

        map_each(task, items, shared={"aligner": aligner}, client=client, progress=progress, on_result=record)
    return {"out": str(out), "manifest": str(out / MANIFEST), "shards": len(folder.shards), **counts}


def input_identity(shard: Shard) -> dict:
    """What identifies the files a shard is read from: the header's rows and dtype, and for each
    file its resolved path, size and modification time (ns). A shard whose identity differs from
    the one recorded with its output is aligned again."""
    paths = {"image": shard.image, "text": shard.text, "metadata": shard.metadata}
    files = {}
    for role, path in paths.items():
        if path is None or (role == "text" and path == shard.image):  # an .npz set is one file
            continue
        info = os.stat(path)
        files[role] = {"path": str(resolved(path)), "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    return {"rows": [shard.n_image, shard.n_text], "dtype": shard.dtype, "files": files}


def _check_outside_input(out: Path, source: Path) -> None:
    """Before anything is created: ``out`` is neither the input, nor inside it, nor holding it."""
    real_out, real_in = resolved(out), resolved(source)
    if real_out == real_in or real_in in real_out.parents or real_out in real_in.parents:
        raise InputError(f"{out}: the output folder must lie outside the input {source} (and not hold it)")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")


def _check_output_folder(out: Path) -> None:
    """``out`` is absent, empty (but for the run lock) or an earlier output of this command."""
    if out.is_dir() and any(p.name != LOCK_FILE for p in out.iterdir()) and not (out / MANIFEST).is_file():
        raise InputError(f"{out}: not empty and not an output of `gaptools align apply` (no {MANIFEST})",
                         hint="give a new or empty folder")


def _open_manifest(out: Path, saved: SavedAligner, direction: str, folder: ShardFolder, float16: bool) -> dict:
    """The manifest of ``out``: created, or read back and checked against this run."""
    run = {
        "aligner": {"sha256": file_sha256(saved.path), "method": saved.header["method"],
                    "params": saved.header["params"], "path": str(saved.path)},
        "direction": direction,
        "float16": float16,
        "input": {**folder.describe(), "folder": str(resolved(folder.path))},
    }
    path = out / MANIFEST
    if not path.is_file():
        manifest = {"kind": MANIFEST_KIND, "version": MANIFEST_VERSION, **run, "source": folder.path, "shards": {}}
        write_json(path, manifest)
        return manifest
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"{path}: unreadable manifest ({type(exc).__name__})", hint="use a new output folder") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND or not isinstance(
            manifest.get("shards"), dict):
        raise InputError(f"{path}: not a manifest of `gaptools align apply`", hint="use a new output folder")
    if manifest.get("version") != MANIFEST_VERSION:
        raise InputError(f"{out}: its manifest (version {manifest.get('version')!r}) does not record which input its "
                         f"shards were aligned from, so they cannot be checked against {folder.path}",
                         hint="use a new output folder")
    there = manifest.get("input", {}).get("folder") if isinstance(manifest.get("input"), dict) else None
    if there != run["input"]["folder"]:
        raise InputError(f"{out}: holds shards aligned from another input folder ({there}), not {folder.path}",
                         hint="use a new output folder, or rerun on the folder it was started with")
    if manifest.get("aligner", {}).get("sha256") != run["aligner"]["sha256"]:
        raise InputError(f"{out}: holds shards aligned with another aligner "
                         f"({manifest.get('aligner', {}).get('path')}), not {saved.path}",
                         hint="use a new output folder, or rerun with the aligner it was started with")
    for key, what in (("direction", "direction"), ("float16", "--float16 setting")):
        if manifest.get(key) != run[key]:
            raise InputError(f"{out}: was started with another {what} ({manifest.get(key)!r} there)",
                             hint="use a new output folder, or rerun with the same arguments")
    if manifest.get("input") != run["input"]:
        raise InputError(f"{out}: was started when {folder.path} held other shards (their names, rows or "
                         "dimension differ)", hint="use a new output folder")
    for leftover in out.rglob(".*.tmp"):  # temporaries of a killed run (atomic_write's names); the folder is ours
        leftover.unlink(missing_ok=True)
    return manifest


def _apply_shard(item: tuple[Shard, dict | None, dict], *, aligner: Aligner, direction: str, out: str,
                 float16: bool, label: str) -> dict:
    """Align one shard into ``out`` (one Dask task); skip it when its recorded input is this
    shard's (:func:`input_identity`) and its recorded files check out.

    Returns
    -------
    dict
        ``{"files": {relative path: sha256}, "input": identity, "skipped": bool}``.
    """
    shard, recorded, identity = item
    targets = output_paths(shard, out)
    relative = {role: str(p.relative_to(out)) for role, p in targets.items()}
    if (recorded is not None and recorded.get("input") == identity
            and _intact(out, recorded.get("files", {}), set(relative.values()))):
        return {"files": recorded["files"], "input": identity, "skipped": True}
    if shard.layout == NPZ_SETS:
        eset = load_npz(shard.image)
        aligned = apply_to_set(aligner, eset, direction=direction, label=label)
        save_set(aligned, targets["set"], float16=float16 or shard.dtype == "float16")
        return {"files": {relative["set"]: file_sha256(targets["set"])}, "input": identity, "skipped": False}
    dtype = np.float16 if float16 else np.dtype(shard.dtype)
    shape = (shard.n_image, aligner.dim_)
    with NpyWriter(targets["image"], shape, dtype) as image_out, NpyWriter(targets["text"], shape, dtype) as text_out:
        for chunk in iter_chunks(shard):
            image, text = aligner.transform_modalities(chunk.image, chunk.text, direction=direction)
            image_out.write(image)
            text_out.write(text)
    files = {relative["image"]: image_out.sha256, relative["text"]: text_out.sha256}
    if "metadata" in targets:
        files[relative["metadata"]] = copy_file(shard.metadata, targets["metadata"])
    return {"files": files, "input": identity, "skipped": False}


def _intact(out: str, files: dict, expected: set) -> bool:
    """True when ``files`` are the expected ones and each on disk has its recorded SHA-256."""
    if set(files) != expected:
        return False
    return all(Path(out, rel).is_file() and file_sha256(Path(out, rel)) == sha for rel, sha in files.items())

