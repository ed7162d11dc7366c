"""Cached experiment steps: a rerun skips every step already finished with the same settings.

Each finished step is recorded in ``<out>/steps.json`` (written atomically after the step's
own outputs) with its settings and wall time. A step whose settings changed is an error
unless it is rerun from scratch (a new output folder): results made with other settings
are never silently mixed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from gaptools.atomic import write_json
from gaptools.errors import InputError
from gaptools.outputs import REPRODUCE, check_output_folder, hold_run_lock, write_marker
from gaptools.resume import as_recorded

STEPS_FILE = "steps.json"
PLAN_KIND = "reproduce"


class StepRunner:
    """Run named steps once, recording their settings and wall time in ``steps.json``.

    Parameters
    ----------
    out : Path
        The experiment folder.
    plan : dict
        The experiment's settings (JSON-serialisable); a folder made with other settings
        is refused.
    resume : bool
        Continue in a folder that already holds this experiment.
    on_step : callable(name, seconds), optional
        Told of each step as it starts (``seconds`` None) or is skipped as done earlier
        (``seconds`` its recorded wall time); the CLI renders these.
    added : dict, optional
        Settings added after folders were written without them, with what those experiments did
        (:func:`gaptools.resume.as_recorded`): a folder from before a setting still resumes.
    """

    def __init__(self, out: Path, plan: dict, *, resume: bool,
                 on_step: Callable[[str, float | None], None] | None = None, added: dict | None = None) -> None:
        self.out = Path(out)
        self.on_step = on_step or (lambda name, seconds: None)
        self.plan = json.loads(json.dumps(plan))  # as stored: tuples become lists
        self.started = time.perf_counter()
        hold_run_lock(self.out, command="gaptools reproduce")  # a second process on this folder is refused
        path = self.out / STEPS_FILE
        if path.exists():
            record = json.loads(path.read_text(encoding="utf-8"))
            if not resume:
                raise InputError(f"{self.out}: holds an earlier experiment",
                                 hint="add --resume to continue it, or choose a new folder")
            stored = as_recorded(record.get("plan", {}), added)
            if stored != self.plan:
                changed = sorted(k for k in set(self.plan) | set(stored) if self.plan.get(k) != stored.get(k))
                raise InputError(f"{self.out}: was started with other settings ({', '.join(changed)})",
                                 hint="rerun with the original settings, or choose a new folder")
            self.steps = record["steps"]
        else:
            # absent, empty, or marked as an experiment that stopped before its first record
            check_output_folder(self.out, kind=REPRODUCE, option="-o", reuse=True)
            self.steps = {}
            write_marker(self.out, REPRODUCE)
            self._save()

    def run(self, name: str, fn: Callable[[], object]) -> bool:
        """Run ``fn`` unless step ``name`` is already done; returns True if it ran."""
        if name in self.steps:
            self.on_step(name, self.steps[name]["seconds"])
            return False
        self.on_step(name, None)
        t = time.perf_counter()
        fn()
        self.steps[name] = {"seconds": round(time.perf_counter() - t, 2)}
        self._save()
        return True

    def timings(self) -> dict[str, float]:
        """Seconds of every finished step, in the order they ran."""
        return {name: s["seconds"] for name, s in self.steps.items()}

    def _save(self) -> None:
        write_json(self.out / STEPS_FILE, {"kind": PLAN_KIND, "version": 1, "plan": self.plan, "steps": self.steps})
