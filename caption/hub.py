"""Loading Hugging Face models and tokenizers: a local folder, the local cache, or the hub.

The one place that decides where a decoder or tokenizer comes from, so that an offline machine
gets one clear error instead of a network wait or a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from gaptools.errors import InputError


def from_pretrained(factory, name_or_dir: str | os.PathLike, what: str):
    """``factory.from_pretrained`` from a local folder, the local cache, or the hub, in that order.

    Parameters
    ----------
    factory : class with ``from_pretrained`` (``AutoTokenizer``, ``AutoModelForCausalLM``)
    name_or_dir : str or path-like
        A folder (absolute, or starting with ``.`` or ``~``, or existing) or a hub id.
    what : str
        For messages (``"decoder"``, ``"tokenizer"``).

    Raises
    ------
    InputError
        A folder that does not exist or holds no such files, or a hub id neither cached nor downloadable.
    """
    name = str(name_or_dir)
    path = Path(name).expanduser()
    if path.exists() or path.is_absolute() or name.startswith((".", "~")):
        if not path.is_dir():
            raise InputError(f"{what} folder {name} does not exist")
        try:
            return factory.from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise InputError(f"{what} folder {name} holds no usable {what} ({type(exc).__name__}: {exc})") from None
    try:
        return factory.from_pretrained(name, local_files_only=True)  # the cache first: no network wait
    except (OSError, ValueError):
        pass
    try:
        return factory.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{what} '{name}' cannot be found locally or downloaded ({type(exc).__name__})",
            hint="pass a local folder with --decoder, or download the hub id once while online",
        ) from None
