"""Competing CPU load for benchmarks (``--busy N``): N processes that each keep one core busy.

    with busy(2):
        ...  # measured while two other CPU-bound processes run

Each competitor is a separate Python process spinning in a loop (like another user's job on a
shared machine); all are killed when the block ends, also on errors or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

SPIN = "while True:\n    pass\n"


@contextlib.contextmanager
def busy(n: int):
    """Run ``n`` CPU-bound competitor processes for the duration of the block (0: none)."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL) for _ in range(n)]
    try:
        if procs:
            time.sleep(0.5)  # let the scheduler see them
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def load_average() -> str:
    """The 1-minute load average and the CPUs this process may use, for the report."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {cpus} usable CPUs"
    except OSError:
        return f"{cpus} usable CPUs"
