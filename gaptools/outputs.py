"""The output guard: what a command may write, replace and hold while it runs.

One mechanism for every command that writes (see the README's "Safety" section):

- :func:`check_output_file`: a file output (``--json``, ``-o x.npz``, and every file the
  Python API writes: :func:`gaptools.save_set`, :func:`gaptools.save_aligner`) is not a
  folder, not one of the inputs (paths compared after resolving symlinks) nor a file of an
  input folder (every file under a folder input is an input), has the expected extension,
  lies in a folder that can be written, and is replaced only when it is the writer's own
  earlier output of the same kind (:func:`file_kind`), anything else only with
  ``overwrite``; checked before any work is done.
- :func:`check_output_folder`: a folder output of one *kind* (a training run, an eval, a
  report, ...) is absent, empty, or marked by gaptools as an output of the same kind, and is
  replaced only with ``overwrite``; it is never a folder that is, or holds, an input.
- :func:`building_folder`: the one atomic folder swap. The folder is built under a temporary
  name beside the target and renamed into place when complete, so a reader never sees a
  half-written folder and a failure leaves the previous one untouched.
- :func:`run_lock`: an exclusive ``fcntl.flock`` on ``<folder>/.gaptools.lock`` held while a
  command runs; a second writer is refused with the holder's pid, host and command.

A file output's kind is read from its content (:func:`file_kind`): an embedding set gaptools
wrote (:data:`SET_FILE`), the ``format`` of a ``.npz`` with a JSON ``header`` (an aligner), the
``kind`` of a JSON document (``gaptools.measure``, ...). Every folder output holds the marker :data:`MARKER` (``{"kind", "version", "created_by"}``);
folders written before markers existed are recognised by their own result document
(:data:`LEGACY_DOCUMENTS`).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from gaptools.atomic import UMASK, write_json
from gaptools.errors import LockedError, OutputError

MARKER = ".gaptools-output.json"
LOCK_FILE = ".gaptools.lock"
MARKER_VERSION = 1

# Kinds of folder output, and how messages name them.
TRAIN_RUN = "caption.train"
EVAL = "caption.eval"
REPORT = "gaptools.report"
REPRODUCE = "gaptools.reproduce"
EMBED_PARTS = "gaptools.embed.parts"
WORLD = "gaptools.world"
CLIP_RUN = "gaptools.world.clip"
KINDS = {
    TRAIN_RUN: "run folder",
    EVAL: "eval folder",
    REPORT: "report folder",
    REPRODUCE: "experiment folder",
    EMBED_PARTS: "embed work folder",
    WORLD: "world folder",
    CLIP_RUN: "toy-CLIP folder",
}

#: Folders written before the marker existed: kind -> (file, how its JSON shows the kind).
LEGACY_DOCUMENTS = {
    TRAIN_RUN: ("config.json", lambda doc: isinstance(doc.get("train"), dict) and "clip_dim" in doc),
    EVAL: ("metrics.json", lambda doc: doc.get("kind") == EVAL),
    REPORT: ("report.json", lambda doc: doc.get("kind") == REPORT),
    REPRODUCE: ("steps.json", lambda doc: doc.get("kind") in (REPRODUCE, "reproduce")),
    WORLD: ("world.json", lambda doc: doc.get("kind") == WORLD),
    CLIP_RUN: ("model.json", lambda doc: isinstance(doc.get("vision_cfg"), dict) and "embed_dim" in doc),
}
_SMALL_JSON = 1 << 20  # marker and legacy documents are read only up to this size


def _read_small_json(path: Path) -> dict | None:
    try:
        if not path.is_file() or path.stat().st_size > _SMALL_JSON:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def folder_kind(folder: str | os.PathLike) -> str | None:
    """The kind of output gaptools wrote in ``folder`` (its marker or legacy document), or None."""
    folder = Path(folder)
    marker = _read_small_json(folder / MARKER)
    if marker is not None:
        return marker.get("kind") if marker.get("kind") in KINDS else None
    for kind, (name, is_kind) in LEGACY_DOCUMENTS.items():
        doc = _read_small_json(folder / name)
        if doc is not None and is_kind(doc):
            return kind
    return None


#: The kind :func:`file_kind` gives an embedding-set ``.npz`` that gaptools wrote (:func:`gaptools.save_set`).
SET_FILE = "gaptools.set"
#: How messages name a file kind; other kinds (a JSON document's ``kind``) are named as they are.
FILE_NOUNS = {SET_FILE: "embedding set", "gaptools.aligner": "aligner"}
_SET_ARRAYS = {"image.npy", "text.npy", "text_image.npy", "meta.npy"}
_SMALL_MEMBER = 1 << 20  # an .npz's header or meta is read only up to this size
_JSON_DOCUMENT = 64 << 20  # a JSON output is read (to learn its kind) only up to this size


def _npz_string(archive, name: str) -> dict | None:
    """The JSON object stored as the 0-d string array ``name`` of an open ``.npz`` (never unpickling)."""
    import io

    import numpy as np

    try:
        if archive.getinfo(name).file_size > _SMALL_MEMBER:
            return None
        value = np.lib.format.read_array(io.BytesIO(archive.read(name)), allow_pickle=False)
        doc = json.loads(str(value)) if value.dtype.kind == "U" and value.ndim == 0 else None
    except (OSError, ValueError, KeyError, RecursionError, EOFError):
        return None
    return doc if isinstance(doc, dict) else None


def file_kind(path: str | os.PathLike) -> str | None:
    """What gaptools output the file at ``path`` is, read from its content; None for anything else.

    Returns
    -------
    str or None
        :data:`SET_FILE` for an embedding-set ``.npz`` that gaptools wrote (its arrays and a
        ``meta`` whose ``created_by`` names gaptools); the ``format`` of a ``.npz`` with a JSON
        ``header`` (``"gaptools.aligner"``); the ``kind`` of a JSON document
        (``"gaptools.measure"``, ``"gaptools.align.compare"``, ...). None for a missing file, a
        folder, a link, or any other content.
    """
    import zipfile

    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head == b"PK\x03\x04":
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                if "header.npy" in names:
                    header = _npz_string(archive, "header.npy")
                    kind = None if header is None else header.get("format")
                    return kind if isinstance(kind, str) else None
                if _SET_ARRAYS <= names:
                    meta = _npz_string(archive, "meta.npy")
                    made_by = None if meta is None else meta.get("created_by")
                    return SET_FILE if isinstance(made_by, str) and made_by.startswith("gaptools") else None
            return None
        if path.stat().st_size > _JSON_DOCUMENT:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, zipfile.BadZipFile, NotImplementedError):
        return None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else None


def _file_noun(kind: str) -> str:
    return FILE_NOUNS.get(kind, f"{kind} document")


def check_replaceable(path: str | os.PathLike, *, kind: str | None, overwrite: bool = False,
                      option: str | None = None, flag: str | None = "--overwrite") -> None:
    """The one rule for replacing a file: only the writer's own earlier output, else only with ``overwrite``.

    Parameters
    ----------
    path : path-like
        The file about to be written.
    kind : str or None
        What the writer writes (:func:`file_kind` of its output); None: it recognises no
        earlier file as its own.
    overwrite : bool
        Replace whatever file is there (never an input: see :func:`check_not_input`).
    option : str, optional
        How the user named the path (``"--json"``); None from Python.
    flag : str or None
        The command's option that sets ``overwrite`` (None: it has none), for the hint; from
        Python (``option`` None) the hint names ``overwrite=True``.

    Raises
    ------
    OutputError
        ``path`` exists (a symbolic link counts, whatever it points at) and is not an earlier
        output of ``kind``, and ``overwrite`` is not given.
    """
    path = Path(path)
    if overwrite or not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink():
        found = "it is a symbolic link; gaptools never writes through one"
    else:
        kind_found = file_kind(path)
        if kind is not None and kind_found == kind:
            return
        found = "it is not a file gaptools wrote" if kind_found is None else f"it is {_a(_file_noun(kind_found))}"
    what = f"an earlier {_file_noun(kind)}" if kind is not None else "an earlier output"
    if option is None:
        hint = "choose another path, or pass overwrite=True to replace it"
    else:
        hint = "choose another path" + (f", or pass {flag} to replace it" if flag else "")
    raise OutputError(f"{_named(option, path)}: exists and is not {what} ({found}); "
                      "gaptools replaces only its own earlier output of the same kind", hint=hint)


def write_marker(folder: str | os.PathLike, kind: str) -> None:
    """Mark ``folder`` as a gaptools output of ``kind`` (what ``--overwrite`` may replace)."""
    from gaptools import __version__

    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    write_json(Path(folder) / MARKER,
               {"kind": kind, "version": MARKER_VERSION, "created_by": f"gaptools {__version__}"})


def resolved(path: str | os.PathLike) -> Path:
    """``path`` made absolute with every symlink resolved (a missing tail is kept as written)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def is_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True if resolved ``path`` is ``folder`` or lies inside it (symlinks resolved)."""
    path, folder = resolved(path), resolved(folder)
    return path == folder or folder in path.parents


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _named(option: str | None, path: Path) -> str:
    return f"{option} {path}" if option else str(path)


def check_not_input(path: str | os.PathLike, inputs: Iterable, *, option: str | None = None) -> None:
    """Refuse an output ``path`` that is one of ``inputs`` or holds one (symlinks resolved).

    Raises
    ------
    OutputError
        Naming the output and the input it would destroy.
    """
    path = Path(path)
    for item in inputs:
        if item is None:
            continue
        if is_within(item, path):
            relation = "is" if resolved(item) == resolved(path) else "holds"
            raise OutputError(f"{_named(option, path)}: {relation} the input {item}; "
                              "gaptools never writes over what it reads", hint="choose another output path")


def check_writable(path: str | os.PathLike, *, option: str | None = None) -> None:
    """Refuse ``path`` when the nearest existing folder on its way cannot take a new file.

    A probe file is created and removed there, so read-only file systems and missing
    permissions show up before any work is done, not after.
    """
    path = Path(path)
    existing = Path(os.path.abspath(os.fspath(path)))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{_named(option, path)}: cannot be created, {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".gaptools-probe-")
    except OSError as exc:
        raise OutputError(f"{_named(option, path)}: cannot write in {existing} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(
    path: str | os.PathLike,
    *,
    option: str | None = None,
    inputs: Iterable = (),
    suffixes: tuple[str, ...] | None = None,
    kind: str | None = None,
    overwrite: bool = False,
    flag: str | None = "--overwrite",
) -> Path:
    """Check a file output before any work: extension, not a folder, not an input, writable, replaceable.

    The rule every writer follows, from the command line and from Python: a file is never
    written over one of the inputs (or what a symbolic link to one resolves to); an existing
    file is replaced only when it is the writer's own earlier output of the same ``kind``,
    anything else only with ``overwrite`` (:func:`check_replaceable`).

    Parameters
    ----------
    path : path-like
        The file the command will write (atomically).
    option : str, optional
        How the user named it (``"--json"``, ``"-o"``), for messages; None from Python.
    inputs : iterable of path-like
        Every file and folder the command reads; None entries are ignored.
    suffixes : tuple of str, optional
        Accepted extensions (lower case, with the dot).
    kind : str, optional
        What the writer writes (see :func:`file_kind`); None: no existing file is its own.
    overwrite : bool
        Replace an existing file that is not an earlier output of ``kind``.
    flag : str or None
        The command's option that sets ``overwrite``, for the hint (None: it has none).

    Returns
    -------
    Path

    Raises
    ------
    OutputError
    """
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise OutputError(f"{_named(option, path)}: expected a file name ending in {' or '.join(suffixes)}")
    if path.is_dir():
        raise OutputError(f"{_named(option, path)}: is a folder, expected a file name")
    inputs = [item for item in inputs if item is not None]
    check_not_input(path, inputs, option=option)
    _check_not_in_input_folder(path, inputs, option=option)
    check_writable(path.parent, option=option)
    check_replaceable(path, kind=kind, overwrite=overwrite, option=option, flag=flag)
    return path


def _check_not_in_input_folder(path: Path, inputs: list, *, option: str | None) -> None:
    """Refuse a file output that would replace a file of an input folder.

    Every file under a folder input counts as an input (a shard of a streamed folder, a file
    of a world), whatever the command reads of it: an existing ``path`` is refused when it
    lies in such a folder, or when it is the same file as one there (a symbolic link in the
    folder pointing at it, a hard link).
    """
    if not (path.exists() or path.is_symlink()):
        return
    target = os.stat(path) if path.exists() else None
    for folder in (Path(item) for item in inputs):
        if not folder.is_dir():
            continue
        if is_within(path, folder):
            raise OutputError(f"{_named(option, path)}: is a file of the input folder {folder}; "
                              "gaptools never writes over what it reads", hint="choose a path outside it")
        if target is None:
            continue
        for root, _, names in os.walk(folder):
            for name in names:
                with contextlib.suppress(OSError):
                    if os.path.samestat(target, os.stat(os.path.join(root, name))):
                        raise OutputError(
                            f"{_named(option, path)}: is the file {os.path.join(root, name)} of the input folder "
                            f"{folder}; gaptools never writes over what it reads", hint="choose another path")


def _contents(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name != LOCK_FILE]


def check_output_folder(
    path: str | os.PathLike,
    *,
    kind: str,
    option: str,
    inputs: Iterable = (),
    overwrite: bool = False,
    reuse: bool = False,
    replaceable: Callable[[Path], bool] | None = None,
    hint: str | None = None,
) -> bool:
    """Check a folder output of ``kind`` before any work.

    Parameters
    ----------
    path : path-like
    kind : str
        One of :data:`KINDS`.
    option : str
        How the user named it, for messages.
    inputs : iterable of path-like
        What the command reads: the folder may neither be nor hold one of them.
    overwrite : bool
        An earlier output of the same kind may be replaced.
    reuse : bool
        An earlier output of the same kind is continued (resume), not replaced.
    replaceable : callable(Path) -> bool, optional
        True when an earlier output of this kind holds nothing worth keeping (a training
        run that failed before its first checkpoint) and may be replaced without ``overwrite``.
    hint : str, optional
        What to do when an earlier output is there and neither flag is given.

    Returns
    -------
    bool
        True when ``path`` holds an earlier output of this kind (to replace or continue).

    Raises
    ------
    OutputError
        ``path`` is a file, is or holds an input, cannot be written, holds something that
        is not this kind of gaptools output (never replaced, whatever the flags), or holds
        an earlier output and neither ``overwrite`` nor ``reuse`` is given.
    """
    path = Path(path)
    noun = KINDS[kind]
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{_named(option, path)}: is a broken symbolic link")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{_named(option, path)}: exists and is not a folder", hint=f"{_a(noun)} is a folder")
    check_not_input(path, inputs, option=option)
    check_writable(path, option=option)
    if not path.is_dir() or not _contents(path):
        return False
    found = folder_kind(path)
    if found != kind:
        what = "" if found is None else f" (it holds {_a(KINDS[found])})"
        raise OutputError(f"{_named(option, path)}: is not empty and not {_a(noun)} written by gaptools{what}; "
                          "gaptools never replaces it", hint="choose a new or empty folder")
    if overwrite or reuse or (replaceable is not None and replaceable(path)):
        return True
    raise OutputError(f"{_named(option, path)}: holds another {noun}",
                      hint=hint or "choose a new folder, or pass --overwrite to replace it")


def clear_folder(folder: str | os.PathLike, kind: str) -> None:
    """Empty a folder that :func:`check_output_folder` accepted for replacement (the lock stays)."""
    folder = Path(folder)
    found = folder_kind(folder)
    if _contents(folder) and found != kind:
        raise OutputError(f"{folder}: no longer holds {_a(KINDS[kind])}; nothing removed")
    for item in _contents(folder):
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


def remove_if_empty(folder: str | os.PathLike) -> None:
    """Remove ``folder`` if it holds nothing but its marker (a work folder whose work is done)."""
    folder = Path(folder)
    with contextlib.suppress(OSError):
        if [p.name for p in folder.iterdir()] == [MARKER]:
            (folder / MARKER).unlink()
            folder.rmdir()


@contextlib.contextmanager
def building_folder(out: str | os.PathLike, *, kind: str | None = None, replace: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``out``, then swap it into place.

    Parameters
    ----------
    out : path-like
        The final folder. Its parent is created if missing.
    kind : str, optional
        Marker written into the folder (one of :data:`KINDS`); None writes none.
    replace : bool
        May replace an existing ``out`` that holds an output of the same ``kind`` (any
        folder when ``kind`` is None). Without it only an absent or empty ``out`` is replaced.

    Yields
    ------
    Path
        The temporary folder to write into. On success it gets the marker and the usual
        permissions and is renamed to ``out`` (the previous ``out``, if any, is removed
        after the rename); on any exception it is deleted and ``out`` is left as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield tmp
        if kind is not None:
            write_marker(tmp, kind)
        os.chmod(tmp, 0o777 & ~UMASK)
        _swap_in(tmp, out, kind=kind, replace=replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, out: Path, *, kind: str | None, replace: bool) -> None:
    old = None
    if out.is_symlink() or out.exists():
        if not out.is_dir():
            raise OutputError(f"{out}: exists and is not a folder; nothing replaced")
        if _contents(out):
            if not replace or (kind is not None and folder_kind(out) != kind):
                raise OutputError(f"{out}: was filled by something else while this command ran; nothing replaced")
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
        os.replace(out, old)  # rename: a folder may replace an empty folder
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        if old.is_symlink():
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)


# --- the run lock -----------------------------------------------------------------------------


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return (f"pid {info['pid']} on {info['host']} ({info.get('command', 'gaptools')}, "
                f"since {info.get('since', '?')})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not written its pid yet)"


def _acquire(path: Path, folder: Path, command: str) -> int:
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~UMASK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LockedError(f"{folder}: in use by {holder}",
                              hint="wait for it to finish, or choose another folder") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its last holder removed the file between our open and our lock: lock the new one
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    return fd


def _release(fd: int, path: Path) -> None:
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            os.unlink(path)  # while still locked: a waiting opener sees the change and starts over
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, *, command: str = "gaptools") -> Iterator[Path]:
    """Hold an exclusive lock on a run folder for the duration of the block.

    The lock is ``fcntl.flock`` on ``<folder>/.gaptools.lock``, which records the holder's
    pid, host, command and start time; the kernel drops it if the process dies. The folder
    is created if missing and removed again at the end if the block left it empty, so a
    command that fails before writing anything leaves nothing behind.

    Parameters
    ----------
    folder : path-like
    command : str
        What holds the lock, for the refusal message of a second writer.

    Raises
    ------
    LockedError
        Another process holds the lock (the message names it).
    OutputError
        ``folder`` is a file or cannot be created.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    created = []
    probe = Path(os.path.abspath(os.fspath(folder)))
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot be created ({exc.strerror or exc})") from None
    path = folder / LOCK_FILE
    try:
        fd = _acquire(path, folder, command)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be created ({exc.strerror or exc})") from None
    try:
        yield folder
    finally:
        _release(fd, path)
        for made in created:  # deepest first
            try:
                made.rmdir()
            except OSError:
                break


_HELD: dict[Path, contextlib.ExitStack] = {}


def hold_run_lock(folder: str | os.PathLike, *, command: str = "gaptools") -> Path:
    """Take :func:`run_lock` on ``folder`` until this process ends (again in the same process: a no-op).

    For drivers whose folder is used by one long call (``reproduce``); the lock file is removed
    at exit, and the kernel drops the lock if the process dies.
    """
    key = resolved(folder)
    if key not in _HELD:
        stack = contextlib.ExitStack()
        stack.enter_context(run_lock(folder, command=command))
        if not _HELD:
            atexit.register(_release_held)
        _HELD[key] = stack
    return Path(folder)


def _release_held() -> None:
    while _HELD:
        _HELD.popitem()[1].close()
