"""Fit and apply time, and peak memory, of every aligner at n = 5,000 and 50,000 (512 dims).

Usage::

    .venv/bin/python bench/align.py            # n = 5k and 50k (a few minutes on 2 cores)
    .venv/bin/python bench/align.py --quick    # n = 1k only
    .venv/bin/python bench/align.py --blas-threads 1   # children use one BLAS thread

Data: ``gaptools.synthetic.planted_gap(n, 512, shift=0.8)`` (one caption per image, so
``ot-exact`` takes the assignment path; ``ot-exact[emd]`` forces POT's ``ot.emd``) to fit,
and an independent planted set of n images to apply to. Each (method, n) runs in a fresh
process so its peak resident memory (``ru_maxrss``, ``peak MB``) is its own: it includes
Python, numpy, the data and, for the OT methods, what ``import ot`` loads (POT imports
torch when installed, ~600 MB; ``POT_BACKEND_DISABLE_PYTORCH=1`` avoids it).
``arrays MB`` is the tracemalloc peak of the arrays allocated during fit + apply (numpy
reports its buffers to tracemalloc; C++ solver internals are not counted). ``x base`` divides fit + apply
time by a baseline measured in the same run: one float32 (n, 512) × (512, 5000) product
and row argmin, the unit of work of the out-of-sample OT rule.

On an oversubscribed machine threaded OpenBLAS spin-waits and can be many times slower
than one thread (measured here: a 50,000 × 512 covariance 2.5 s threaded vs 0.35 s with
one thread); ``--blas-threads`` sets ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` for the
timed processes (the baseline too) so both settings can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

DIM = 512
METHODS = ("mean", "center", "pca-rotation", "procrustes", "coral", "ot-exact", "ot-exact[emd]", "ot-sinkhorn")


def run_one(method: str, folder: Path) -> dict:
    """Fit ``method`` on folder/train_*.npy and apply it to folder/test_image.npy (in this process)."""
    from gaptools.align import make_aligner

    x_img, x_txt = np.load(folder / "train_image.npy"), np.load(folder / "train_text.npy")
    test = np.load(folder / "test_image.npy")
    params = {"solver": "emd"} if method == "ot-exact[emd]" else {}
    aligner = make_aligner(method.split("[")[0], params)
    if method.startswith("ot"):
        import ot  # noqa: F401  (import time is not fit time)
        import scipy.optimize  # noqa: F401
    tracemalloc.start()
    start = time.perf_counter()
    aligner.fit(x_img, x_txt)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    aligner.transform(test)
    apply_s = time.perf_counter() - start
    arrays = tracemalloc.get_traced_memory()[1] / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"fit_s": fit_s, "apply_s": apply_s, "peak_mb": peak, "arrays_mb": arrays}


def baseline_seconds(test: np.ndarray) -> float:
    """One chunk of the out-of-sample rule: (n, 512) × (512, 5000) and argmin, best of 3."""
    points = np.random.default_rng(1).standard_normal((5000, DIM)).astype(np.float32)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        (test @ points.T).argmin(axis=1)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 1,000 only")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--blas-threads", type=int, help="BLAS threads of the timed processes (default: BLAS's own)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one method in this process
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, Path(args.folder))))
        return

    env = dict(os.environ)
    if args.blas_threads:
        env.update(OPENBLAS_NUM_THREADS=str(args.blas_threads), OMP_NUM_THREADS=str(args.blas_threads))
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)  # the baseline, measured in this process
    from gaptools.synthetic import planted_gap

    sizes = (1000,) if args.quick else (5000, 50000)
    methods = [m for m in args.methods.split(",") if m]
    print(f"{os.cpu_count()} CPUs, BLAS threads: {args.blas_threads or 'default'}")
    print(f"{'n':>6} {'method':<14} {'fit s':>8} {'apply s':>8} {'x base':>7} {'peak MB':>8} {'arrays MB':>9}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            train = planted_gap(n, DIM, shift=0.8, seed=0)
            np.save(folder / "train_image.npy", train.image)
            np.save(folder / "train_text.npy", train.text)
            test = planted_gap(n, DIM, shift=0.8, seed=1).image
            np.save(folder / "test_image.npy", test)
            base = baseline_seconds(test)
            print(f"{n:>6} {'(baseline)':<14} {'':>8} {base:>8.3f} {1:>7.1f}")
            for method in methods:
                out = subprocess.run([sys.executable, __file__, "--one", method, "--folder", str(folder)],
                                     capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    print(f"{n:>6} {method:<14} failed: {out.stderr.strip().splitlines()[-1]}")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                ratio = (r["fit_s"] + r["apply_s"]) / base
                print(f"{n:>6} {method:<14} {r['fit_s']:>8.2f} {r['apply_s']:>8.2f} {ratio:>7.1f} "
                      f"{r['peak_mb']:>8.0f} {r['arrays_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
