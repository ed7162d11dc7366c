"""Loading Hugging Face models and tokenizers: a local folder, the local cache, or the hub.

The one place that decides where a decoder or tokenizer comes from, so that an offline machine
gets one clear error at once instead of a network wait, retries or a traceback:

- a folder (a path object, an existing path, an absolute or ``.``/``~`` path, or a name with more
  than one ``/`` or a backslash, which no hub id has) is read from disk only; a missing one is a missing folder,
  never a hub id;
- a hub id is read from the local cache first; only when it is not there is the hub asked, and
  only after ``HF_HUB_OFFLINE`` is checked and a short connection to the hub has succeeded.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from gaptools.errors import InputError

#: Seconds the hub has to accept a connection before it counts as unreachable.
PROBE_SECONDS = 3.0
#: What to do instead, said whenever a hub id cannot be had.
ALTERNATIVE = ("a shapes-world set needs no download: leave --decoder out or pass --decoder shapes-world; "
               "otherwise pass a folder written by save_pretrained, or fetch the hub id once while online")


def is_folder(name_or_dir: str | os.PathLike) -> bool:
    """True when ``name_or_dir`` names a folder rather than a hub id (see the module docstring)."""
    if isinstance(name_or_dir, os.PathLike):
        return True
    name = str(name_or_dir)
    path = Path(name).expanduser()
    return path.exists() or path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or "\\" in name


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached now, in a few words; None when a connection opened.

    ``HF_HUB_OFFLINE`` is honoured; otherwise a TCP connection to the hub's endpoint
    (``HF_ENDPOINT``) must open within :data:`PROBE_SECONDS`, name lookup included.
    """
    from huggingface_hub import constants

    if constants.is_offline_mode():
        return "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (80 if url.scheme == "http" else 443)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}: {exc.strerror or exc}")

    worker = threading.Thread(target=probe, daemon=True)  # name lookup has no timeout of its own
    worker.start()
    worker.join(PROBE_SECONDS)
    return outcome[0] if outcome else f"{host} did not answer within {PROBE_SECONDS:g} s"


def from_pretrained(factory, name_or_dir: str | os.PathLike, what: str):
    """``factory.from_pretrained`` from a local folder, the local cache, or the hub, in that order.

    Parameters
    ----------
    factory : class with ``from_pretrained`` (``AutoTokenizer``, ``AutoModelForCausalLM``)
    name_or_dir : str or path-like
        A folder (see :func:`is_folder`) or a hub id.
    what : str
        For messages (``"decoder"``, ``"tokenizer"``).

    Raises
    ------
    InputError
        A folder that does not exist or holds no such files; a hub id that is not cached while
        the hub cannot be reached (said at once, no retries), or that the hub does not give.
    """
    name = str(name_or_dir)
    if is_folder(name_or_dir):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise InputError(f"{what} folder {name} does not exist")
        try:
            return factory.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InputError(f"{what} folder {name} holds no usable {what} ({type(exc).__name__}: {_first_line(exc)})") from None
    try:
        return factory.from_pretrained(name, local_files_only=True)  # the cache first: no network wait
    except (OSError, ValueError):
        pass
    reason = hub_unreachable()
    if reason is not None:
        raise InputError(f"{what} '{name}' is not in the local Hugging Face cache and the hub cannot be reached "
                         f"({reason})", hint=ALTERNATIVE) from None
    try:
        return factory.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} '{name}' cannot be found locally or downloaded ({type(exc).__name__}: "
                         f"{_first_line(exc)})", hint=ALTERNATIVE) from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
