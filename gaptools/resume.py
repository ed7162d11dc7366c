"""Resuming an interrupted run: the check that it is continued with the settings it started with.

Used by ``caption train --resume`` and ``gaptools world train-clip --resume``: a run resumed with
other settings would silently mix two experiments, so every difference is listed and refused,
except the settings named as free to change (budgets, logging, the device).
"""

from __future__ import annotations

import os

from gaptools.errors import InputError


def _as_path(value):
    """A path setting as compared across invocations: resolved when it names something here."""
    if isinstance(value, str) and value and os.path.exists(value):
        return os.path.realpath(value)
    return value


def as_recorded(stored: dict, added: dict | None) -> dict:
    """A run's recorded settings, a setting added since it was recorded read as what such runs did.

    Parameters
    ----------
    stored : dict
        The settings as recorded in the run's folder.
    added : dict, optional
        Settings added after runs were recorded without them, each with the value those runs used
        (a run recorded with the setting keeps its own value).
    """
    return {**(added or {}), **stored}


def check_same_settings(stored: dict, given: dict, *, may_change: tuple[str, ...] = (), where: str,
                        paths: tuple[str, ...] = (), added: dict | None = None,
                        problem: str = "--resume needs the run's own settings",
                        hint: str = "repeat the original command with --resume") -> None:
    """Refuse to resume when a setting other than ``may_change`` differs from the stored run's.

    Parameters
    ----------
    stored : dict
        The settings the run was started with (as recorded in its folder).
    given : dict
        The settings of this invocation.
    may_change : tuple of str
        Keys allowed to differ (a longer budget, another log interval, ...).
    paths : tuple of str
        Keys holding file or folder paths: equal when they resolve to the same place
        (``data.npz`` and ``/home/me/data.npz``).
    added : dict, optional
        Settings a run may have been recorded without, with what such runs did (:func:`as_recorded`).
    where : str
        The run folder or checkpoint file, for the message.
    problem : str
        The message's first words after ``where``.
    hint : str
        What the user should do instead.

    Raises
    ------
    InputError
        Naming every changed setting with its stored and given value.
    """
    stored = as_recorded(stored, added)
    keys = sorted((set(stored) | set(given)) - set(may_change))
    changed = [k for k in keys if stored.get(k) != given.get(k)
               and not (k in paths and _as_path(stored.get(k)) == _as_path(given.get(k)))]
    if changed:
        detail = ", ".join(f"{k}: {stored.get(k)!r} -> {given.get(k)!r}" for k in changed)
        raise InputError(f"{where}: {problem} (changed: {detail})", hint=hint)
