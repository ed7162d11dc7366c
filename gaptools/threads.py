"""Thread counts and wait policies that degrade gracefully on a shared machine.

Why: OpenMP threads (torch's intra-op pool, libgomp) spin at every barrier before sleeping (by
default up to 300,000 iterations), and threaded BLAS waits for work the same way. On a machine
whose cores other processes also want (a cluster login node, a laptop doing other work), a
spinning thread burns the time slice its partner needs, and every parallel region then lasts
until the descheduled thread gets a core back. Measured on a 2-core VM while other jobs kept the
load average near 7: a small ``caption train`` ran at 13-21 captions/s with torch's default (two
spinning threads) against 128/s with passive waiting and 123/s on one thread; the ``measure``
suite (20k pairs) took 47-59 s with two OpenBLAS threads against 8-14 s on one.

What :func:`configure` sets, before the libraries start their thread pools (only what the user
has not set; each value is an environment variable, so it reaches worker processes too):

- ``OMP_WAIT_POLICY=PASSIVE``: OpenMP threads sleep at once when idle (unless the user set
  ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``);
- when none of ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` is set: OpenMP and
  MKL get one thread per CPU this process may use (the affinity mask, capped by a cgroup CPU
  quota, which the libraries themselves ignore), and OpenBLAS gets ``BLAS_THREADS`` (it has no
  passive wait: its idle threads spin) -- also applied through threadpoolctl to a BLAS that
  numpy has already loaded.

Nothing here imports numpy or torch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import MutableMapping

COUNT_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
BLAS_THREADS = 1  # OpenBLAS threads when the user chose none (see the module docstring)


def usable_cpus(cgroup_root: str | os.PathLike = "/sys/fs/cgroup") -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (v2 or v1)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota(Path(cgroup_root))
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_quota(root: Path) -> float | None:
    """CPUs' worth of time allowed by the cgroup (``cpu.max`` or ``cpu.cfs_quota_us``), None if unlimited."""
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = root / "cpu" / "cpu.cfs_quota_us"
        if v1.is_file():
            quota = int(v1.read_text())
            period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
            return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None
    return None


def thread_settings(environ: MutableMapping[str, str], cpus: int) -> dict[str, str]:
    """The environment variables :func:`configure` would set: only those the user left unset.

    Parameters
    ----------
    environ : mapping
        The current environment.
    cpus : int
        Usable CPUs (:func:`usable_cpus`).

    Returns
    -------
    dict of str to str
    """
    settings = {}
    if not any(name in environ for name in WAIT_VARIABLES):
        settings["OMP_WAIT_POLICY"] = "PASSIVE"
    if not any(name in environ for name in COUNT_VARIABLES):
        settings.update(OMP_NUM_THREADS=str(cpus), MKL_NUM_THREADS=str(cpus), OPENBLAS_NUM_THREADS=str(BLAS_THREADS))
    return settings


def configure(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Apply :func:`thread_settings` to the environment (call at program start, before torch loads).

    Returns
    -------
    dict of str to str
        What was set (empty when the user had chosen everything).
    """
    environ = os.environ if environ is None else environ
    settings = thread_settings(environ, usable_cpus())
    environ.update(settings)
    if "OPENBLAS_NUM_THREADS" in settings and environ is os.environ:
        _limit_loaded_blas(int(settings["OPENBLAS_NUM_THREADS"]))
    return settings


def _limit_loaded_blas(threads: int) -> None:
    """A BLAS already loaded (numpy imported before :func:`configure`) read its count at load: set it now."""
    import sys

    if "numpy" not in sys.modules:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a declared dependency; without it the environment variable still reaches children
        return
    threadpool_limits(limits=threads, user_api="blas")
