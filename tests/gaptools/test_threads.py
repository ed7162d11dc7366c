"""Thread policy: only what the user left unset, CPUs from the affinity mask and a cgroup quota."""

import os
import subprocess
import sys

import pytest

from gaptools import threads
from gaptools.threads import configure, thread_settings, usable_cpus


def test_unset_environment_gets_passive_waits_and_counts():
    assert thread_settings({}, 3) == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3",
                                      "OPENBLAS_NUM_THREADS": str(threads.BLAS_THREADS)}


@pytest.mark.parametrize("name", ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"])
def test_any_thread_count_the_user_set_leaves_all_counts_alone(name):
    assert thread_settings({name: "4"}, 2) == {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("name", ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT"])
def test_a_wait_setting_of_the_user_is_kept(name):
    assert "OMP_WAIT_POLICY" not in thread_settings({name: "ACTIVE"}, 2)


def test_configure_updates_the_given_mapping_only():
    env = {"OMP_NUM_THREADS": "1"}
    assert configure(env) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env == {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _affinity():
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "max 100000\n"}, None),  # v2, no quota
    ({"cpu.max": "100000 100000\n"}, 1),  # v2, one CPU's worth
    ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs round up
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no quota
    ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1, half a CPU
    ({"cpu.max": "garbage"}, None),
    ({}, None),
])
def test_usable_cpus_is_the_affinity_mask_capped_by_a_cgroup_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert usable_cpus(tmp_path) == (_affinity() if expected is None else min(_affinity(), expected))


def _python(code, **env):
    base = {k: v for k, v in os.environ.items() if k not in threads.COUNT_VARIABLES + threads.WAIT_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**base, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_command_line_applies_the_policy_at_startup_and_respects_the_user():
    code = ("import numpy, threadpoolctl, os, gaptools.cli.main; "
            "blas = [p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas']; "
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('OMP_NUM_THREADS'), min(blas))")
    wait, omp, blas = _python(code)
    assert (wait, omp, int(blas)) == ("PASSIVE", str(usable_cpus()), threads.BLAS_THREADS)  # numpy loaded first
    assert _python(code, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="ACTIVE")[:2] == ["ACTIVE", "1"]
