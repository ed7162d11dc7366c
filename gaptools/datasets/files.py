"""Opening annotation files with errors that name the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gaptools.errors import InputError


def existing_file(path: str | os.PathLike) -> Path:
    """The path, if it is a readable file; else :class:`InputError`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an annotation file")
    if not path.is_file():  # opening a FIFO would wait for a writer
        raise InputError(f"{path}: is not a regular file (a FIFO, socket or device is never opened)")
    return path


def read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of a file (a BOM is dropped)."""
    path = existing_file(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise _DuplicateKey(dup)
    return dict(pairs)


class _DuplicateKey(Exception):
    pass


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file, refusing duplicate object keys (they silently lose data)."""
    text = read_text(path)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to read") from None
    except _DuplicateKey as exc:
        raise InputError(f"{path}: duplicate key {exc.args[0]!r} in a JSON object") from None
