"""Atomic file writes: a temporary file in the target folder, then ``os.replace``.

A reader never sees a half-written file, and a failure (or Ctrl-C) leaves the previous
file, if any, untouched. Folders are swapped into place by
:func:`gaptools.outputs.building_folder`; which outputs a command may write at all is
checked by :mod:`gaptools.outputs`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from gaptools.errors import OutputError

UMASK = os.umask(0)  # the process umask, read once (os.umask can only be read by setting it)
os.umask(UMASK)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block ends without error.

    Parameters
    ----------
    path : path-like
        The final file. Its folder is created if missing.
    mode : {"wb", "w"}
        Binary or text mode (text is UTF-8).

    Yields
    ------
    file object
        Write to it; it is flushed, fsynced and moved into place on success,
        deleted on any exception.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, expected a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # read-only, no permission, a file where a folder should be
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from None
    os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, allow_nan=False)
        fh.write("\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8, atomically."""
    with atomic_write(path, "w") as fh:
        fh.write(text)
