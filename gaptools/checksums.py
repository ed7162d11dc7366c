"""SHA-256 checksums of what gaptools writes, verified when it is read back.

A file changed after it was written (a flipped byte, an edited number) must never load as if
it were the writer's: every folder a command writes for later reading (a captioning run's
``final/``, an eval folder) holds a manifest, :data:`MANIFEST`, naming each of its files with
its SHA-256; an aligner file carries the digests of its header and arrays in the header itself
(:mod:`gaptools.align.persist`). Readers verify before they use anything, and a mismatch is one
line naming the file.

Files written before checksums existed have no manifest: they are still read, and validated by
value (types, shapes, finite and in-range numbers) as every file is.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from gaptools.atomic import write_json
from gaptools.errors import InputError

#: The manifest's file name inside a folder, and its ``kind``.
MANIFEST = "checksums.json"
KIND = "gaptools.checksums"
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(value: np.ndarray) -> str:
    """Hex SHA-256 of an array's dtype, shape and bytes (C order)."""
    value = np.asarray(value)
    digest = hashlib.sha256(f"{value.dtype.str}{value.shape}".encode())
    digest.update(np.ascontiguousarray(value).data)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    """Hex SHA-256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_manifest(folder: str | os.PathLike, files: dict) -> Path:
    """Write ``folder/checksums.json`` (atomically) with the SHA-256 of each file.

    Parameters
    ----------
    folder : path-like
        Where the manifest goes.
    files : dict of str to path-like
        The name each file is verified under (relative to the ``root`` :func:`verify_manifest`
        is given: a run's manifest sits in ``final/`` and names ``config.json`` beside it) and
        where it is now (it may still be in a temporary folder).
    """
    entries = {name: file_sha256(p) for name, p in sorted(files.items())}
    path = Path(folder) / MANIFEST
    write_json(path, {"kind": KIND, "version": 1, "sha256": entries})
    return path


def folder_files(folder: str | os.PathLike, prefix: str = "") -> dict[str, Path]:
    """Every file under ``folder`` (hidden ones and a manifest aside) as ``{prefix + relative name: path}``."""
    folder = Path(folder)
    return {prefix + p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}


def verify_manifest(folder: str | os.PathLike, *, root: str | os.PathLike | None = None) -> bool:
    """Check every file ``folder/checksums.json`` names against its SHA-256.

    Parameters
    ----------
    folder : path-like
    root : path-like, optional
        What the names are relative to (default ``folder``).

    Returns
    -------
    bool
        True when a manifest was there and every file matched; False when there is none (a
        folder written before checksums existed).

    Raises
    ------
    InputError
        A file is missing or differs from what was written (one line naming it), or the
        manifest itself is not one.
    """
    from gaptools.datasets.files import read_json

    path = Path(folder) / MANIFEST
    if not path.is_file():
        return False
    root = Path(root if root is not None else folder)
    doc = read_json(path)
    entries = doc.get("sha256") if isinstance(doc, dict) and doc.get("kind") == KIND else None
    if not isinstance(entries, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in entries.items()):
        raise InputError(f"{path}: not a gaptools checksum manifest")
    for name, expected in entries.items():
        target = root / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise InputError(f"{path}: names a file outside {root} ({name!r})")
        if not target.is_file():
            raise InputError(f"{target}: missing (listed in {path})")
        if file_sha256(target) != expected:
            raise InputError(f"{target}: changed after it was written (its SHA-256 differs from {path})",
                             hint="restore the file, or write it anew")
    return True
