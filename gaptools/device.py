"""The one choice of torch device for every command (embed, train, eval, world train-clip).

``"auto"`` (or None) takes the process's GPU when CUDA is present — under ``torchrun`` the rank's
own, ``LOCAL_RANK`` — else the CPU. A name given explicitly is checked: not a torch device, CUDA
absent, or a GPU index this machine does not have are one clear :class:`~gaptools.errors.InputError`.
torch is imported here only when a device is asked for.
"""

from __future__ import annotations

import os

from gaptools.errors import InputError


def resolve_device(name: str | None = "auto"):
    """The ``torch.device`` for a ``--device`` value.

    Parameters
    ----------
    name : str or None
        ``"auto"``/None, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...

    Returns
    -------
    torch.device
        For ``"auto"`` and a bare ``"cuda"`` under torchrun: ``cuda:LOCAL_RANK``.
    """
    import torch

    if name in (None, "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"--device {name!r} is not a torch device", hint="e.g. cpu, cuda, cuda:1, mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available here", hint="use --device cpu")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        elif device.index >= torch.cuda.device_count():
            raise InputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                             hint="use cuda:0 ... or --device auto")
    return device
