"""Aligners by name (the names the command line and saved files use): ``mean``, ``center``,
``standardize``, ``moment``, ``realign``, ``pca-rotation``, ``pca-rotation-paper``,
``procrustes``, ``coral``, ``ot-exact``, ``ot-paper``, ``ot-plan-images``, ``ot-sinkhorn``, ``memory-projection``,
``diffusion-bridge``."""

from __future__ import annotations

import json

from gaptools.align.base import Aligner
from gaptools.align.bridge import DiffusionBridge
from gaptools.align.coral import CORAL
from gaptools.align.memory import MemoryProjection
from gaptools.align.moments import MomentMatch, ReAlign, Standardize
from gaptools.align.rotation import PCARotation, PCARotationPaper, Procrustes
from gaptools.align.shift import Center, MeanShift
from gaptools.align.transport import OTExact, OTPaper, OTPlanImages, OTSinkhorn
from gaptools.errors import InputError

#: Registered aligner classes by name, in the order `compare` runs them.
METHODS: dict[str, type[Aligner]] = {
    cls.name: cls
    for cls in (MeanShift, Center, Standardize, MomentMatch, ReAlign, PCARotation, PCARotationPaper, Procrustes,
                CORAL, OTExact, OTPaper, OTPlanImages, OTSinkhorn, MemoryProjection, DiffusionBridge)
}


def aligner_class(name: str) -> type[Aligner]:
    """The class registered as ``name``; an unknown name's error lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(f"unknown alignment method '{name}'", hint=f"valid methods: {', '.join(METHODS)}") from None


def make_aligner(name: str, params: dict | None = None) -> Aligner:
    """A new, unfitted aligner ``name`` with hyper-parameters ``params``.

    Parameters
    ----------
    name : str
        A registered name: a key of :data:`METHODS` (``gaptools.ALIGNERS``).
    params : dict, optional
        Keyword hyper-parameters of the method (``{"reg": 0.1}``).

    Returns
    -------
    Aligner
        Not fitted yet: ``fit(X_img, X_txt)`` returns it fitted.

    Raises
    ------
    InputError
        ``name`` is not a registered name, ``params`` is not a dict, or it holds a parameter
        the method does not take (the error lists the ones it does).

    Examples
    --------
    >>> import gaptools
    >>> eset = gaptools.planted_gap(500, 32, shift=0.5)
    >>> aligner = gaptools.make_aligner("mean").fit(eset.image, eset.text)
    >>> moved = aligner.transform(eset.image)  # images moved toward the captions
    >>> round(gaptools.measure(moved, eset.text, bootstrap=0)["centroid_gap"], 2)
    0.01
    >>> list(gaptools.ALIGNERS)[:4]
    ['mean', 'center', 'standardize', 'moment']
    """
    if not isinstance(name, str):
        raise InputError(f"make_aligner: the method is a registered name such as 'mean', got {type(name).__name__} "
                         f"{name!r:.60}", hint=f"valid methods: {', '.join(METHODS)}")
    if params is not None and not isinstance(params, dict):
        raise InputError(f"make_aligner: params must be a dict of hyper-parameters such as {{'reg': 0.1}}, "
                         f"got {type(params).__name__} {params!r:.60}")
    cls = aligner_class(name)
    params = dict(params or {})
    unknown = sorted(str(key) for key in set(params) - set(cls.param_names()))
    if unknown:
        raise InputError(
            f"method '{name}' has no parameter(s) {', '.join(unknown)}",
            hint=f"its parameters: {', '.join(cls.param_names())}",
        )
    _check_param_types(name, params, cls().get_params())
    return cls(**params)


def _check_param_types(name: str, params: dict, defaults: dict) -> None:
    """A parameter keeps its default's type: a flag true/false, a number a number (``-p`` and saved
    headers parse JSON, so ``"no"`` or ``"5"`` would otherwise arrive as truthy strings)."""
    for key, value in params.items():
        default = defaults.get(key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise InputError(f"method '{name}': parameter '{key}' must be true or false, got {value!r}")
        if (isinstance(default, (int, float)) and not isinstance(default, bool)
                and (isinstance(value, bool) or not isinstance(value, (int, float)))):
            raise InputError(f"method '{name}': parameter '{key}' must be a number, got {value!r}")


def params_for(name: str, shared: dict) -> dict:
    """The entries of ``shared`` that method ``name`` accepts (options common to several methods)."""
    accepted = set(aligner_class(name).param_names())
    return {k: v for k, v in shared.items() if k in accepted}


def parse_param(text: str) -> tuple[str, object]:
    """Parse ``key=value`` (value as JSON when it parses: numbers, true/false; else a string).

    Dashes in the key become underscores, so ``max-fit-points=2000`` works.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"parameter '{text}' is not of the form key=value", hint="e.g. -p reg=0.1")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    except RecursionError:
        raise InputError(f"parameter '{key.strip()}': its value is nested too deeply to read") from None
    return key.strip().replace("-", "_"), value
