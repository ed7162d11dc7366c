"""Fit and apply time, and peak memory, of every aligner at n = 5,000 and 50,000 (512 dims),
then ``memory-projection`` apply at 100,000 queries × 10,000 memory × 512, then the
``diffusion-bridge`` fit on 100,000 captions and its apply against memory projection's.

Usage::

    .venv/bin/python bench/align.py            # n = 5k and 50k, then the memory check (minutes on 2 cores)
    .venv/bin/python bench/align.py --quick    # n = 1k only, memory check at 10k queries × 1k memory
    .venv/bin/python bench/align.py --blas-threads 1   # children use one BLAS thread
    .venv/bin/python bench/align.py --methods none --blas-threads 1   # the memory and bridge checks alone
    .venv/bin/python bench/align.py --methods none --memory-queries 0 --blas-threads 1   # the bridge check alone

Data: ``gaptools.synthetic.planted_gap(n, 512, shift=0.8)`` (one caption per image, so
``ot-exact`` takes the assignment path; ``ot-exact[emd]`` forces POT's ``ot.emd``) to fit,
and an independent planted set of n images to apply to. Each (method, n) runs in a fresh
process so its peak resident memory (``peak MB``, see :func:`peak_rss_mb`) is its own: it
includes Python, numpy, the data and, for the OT methods, what ``import ot`` loads (POT
imports torch when installed, ~600 MB; ``POT_BACKEND_DISABLE_PYTORCH=1`` avoids it).
``arrays MB`` is the tracemalloc peak of the arrays allocated during fit + apply (numpy
reports its buffers to tracemalloc; C++ solver internals are not counted). ``x base`` divides fit + apply
time by a baseline measured in the same run: one float32 (n, 512) × (512, 5000) product
and row argmin, the unit of work of the out-of-sample OT rule.

On an oversubscribed machine threaded OpenBLAS spin-waits and can be many times slower
than one thread (measured here: a 50,000 × 512 covariance 2.5 s threaded vs 0.35 s with
one thread); ``--blas-threads`` sets ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` for the
timed processes (the baseline too) so both settings can be compared.

The memory check (``--memory-queries`` × ``--memory-size``, issue 14's target: within 30 s
and 2 GB) fits ``memory-projection`` on a planted set with ``--memory-size`` captions and
times ``transform`` of the queries in a fresh process; ``peak MB`` is that process's peak
right after the apply (Python, numpy, the memory sets, the queries, the output and the chunk
of similarities). Its baselines, measured in the same process afterwards: one chunked float32
GEMM pass of the same size (queries × memoryᵀ, the similarity half of the work; the
projection does two such passes plus an exponential, so ≈ 2× is the floor) and the
``mean`` apply of the same queries. The BLAS library and thread count are printed as
threadpoolctl reports them in that process, with the CPU time of the apply and the load
average: on a shared machine wall time follows the load, while with one BLAS thread the CPU
time is close to what an idle core would take.

The bridge check (issue 25's goals on a 2-core CPU: fit within 10 minutes, apply within 10× memory
projection's) fits ``diffusion-bridge`` at its default size on ``--bridge-captions`` caption
embeddings (a planted set, one caption per image) in a fresh process, then times, in the same
process, its ``transform`` of ``--bridge-queries`` other images and the ``transform`` of the same
images by ``memory-projection`` fitted on the same set (its default memory of 10,000 captions),
and prints the ratio. Its fit time does not grow with the caption count (a fixed number of
steps of a fixed batch); the count only changes what the denoiser can memorise. torch's thread
count is what ``--blas-threads`` sets (``OMP_NUM_THREADS``), as printed.
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
METHODS = ("mean", "center", "standardize", "moment", "realign", "pca-rotation", "pca-rotation-paper", "procrustes",
           "coral", "ot-exact", "ot-exact[emd]", "ot-paper", "ot-sinkhorn", "memory-projection", "diffusion-bridge")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` of ``/proc/self/status``.

    Not ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that high-water mark is
    carried across fork + exec (measured here: a child of a 312 MB parent reports 312 MB
    while its own ``VmHWM`` is 11 MB), so children of this script would report the
    parent's peak. ``ru_maxrss`` is the fallback where ``/proc`` is absent.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    if method == "diffusion-bridge":
        import diffusers.schedulers  # noqa: F401  (import time is not fit time)
    tracemalloc.start()
    start = time.perf_counter()
    aligner.fit(x_img, x_txt)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    aligner.transform(test)
    apply_s = time.perf_counter() - start
    arrays = tracemalloc.get_traced_memory()[1] / 2**20
    peak = peak_rss_mb()
    return {"fit_s": fit_s, "apply_s": apply_s, "peak_mb": peak, "arrays_mb": arrays}


def run_memory(folder: Path) -> dict:
    """Fit memory-projection on folder/mem_*.npy, time its apply to folder/queries.npy, then the baselines."""
    from threadpoolctl import threadpool_info

    from gaptools.align import make_aligner
    from gaptools.align.memory import CHUNK_ELEMENTS

    x_img, x_txt = np.load(folder / "mem_image.npy"), np.load(folder / "mem_text.npy")
    queries = np.load(folder / "queries.npy")
    aligner = make_aligner("memory-projection", {"memory_size": len(x_txt)}).fit(x_img, x_txt)
    tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    out = aligner.transform(queries)
    apply_s, apply_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    arrays = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peak = peak_rss_mb()
    assert out.shape == queries.shape and np.isfinite(out).all()
    del out
    memory = aligner.memory_txt_
    step = max(1, CHUNK_ELEMENTS // len(memory))
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(0, len(queries), step):  # one GEMM pass of the same size, in the same chunks
        queries[i:i + step] @ memory.T
    gemm_s, gemm_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    mean = make_aligner("mean").fit(x_img, x_txt)
    start = time.perf_counter()
    mean.transform(queries)
    mean_s = time.perf_counter() - start
    blas = [f"{d['internal_api']} {d.get('version') or ''} ({d['num_threads']} threads)"
            for d in threadpool_info() if d.get("user_api") == "blas"]
    return {"apply_s": apply_s, "apply_cpu_s": apply_cpu_s, "gemm_cpu_s": gemm_cpu_s, "load": os.getloadavg()[0],
            "peak_mb": peak, "arrays_mb": arrays, "gemm_s": gemm_s, "mean_s": mean_s,
            "blas": "; ".join(blas) or "unknown", "queries": len(queries), "memory": len(memory),
            "dim": queries.shape[1]}


def memory_check(n_queries: int, memory_size: int, env: dict) -> None:
    """Print the memory-projection apply figures at n_queries × memory_size × DIM."""
    from gaptools.synthetic import planted_gap

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train = planted_gap(memory_size, DIM, shift=0.8, seed=0)  # one caption per image: memory_size captions
        np.save(folder / "mem_image.npy", train.image)
        np.save(folder / "mem_text.npy", train.text)
        np.save(folder / "queries.npy", planted_gap(n_queries, DIM, shift=0.8, seed=1).image)
        del train
        out = subprocess.run([sys.executable, __file__, "--memory-child", "--folder", str(folder)],
                             capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"memory-projection check failed: {out.stderr.strip().splitlines()[-1]}")
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nmemory-projection apply, {r['queries']:,} queries × {r['memory']:,} memory × {r['dim']} "
          f"(τ = 0.01), BLAS: {r['blas']}")
    print(f"  apply {r['apply_s']:.2f} s = {r['apply_s'] / r['gemm_s']:.2f}× one GEMM pass of the same size "
          f"({r['gemm_s']:.2f} s), {r['apply_s'] / r['mean_s']:.0f}× the mean apply ({r['mean_s']:.3f} s)")
    print(f"  CPU time of the apply {r['apply_cpu_s']:.2f} s = {r['apply_cpu_s'] / r['gemm_cpu_s']:.2f}× the GEMM "
          f"pass's ({r['gemm_cpu_s']:.2f} s); 1-minute load average {r['load']:.1f} on {os.cpu_count()} CPUs")
    print(f"  peak RSS {r['peak_mb']:.0f} MB (arrays allocated in the apply {r['arrays_mb']:.0f} MB); "
          f"issue 14's target 30 s and 2,048 MB: "
          f"{'met' if r['apply_s'] <= 30 and r['peak_mb'] <= 2048 else 'NOT met'}")


def run_bridge(folder: Path) -> dict:
    """Fit diffusion-bridge on folder/bridge_*.npy, then time its apply and memory projection's to folder/queries.npy."""
    import diffusers.schedulers  # noqa: F401  (import time is not fit time)
    import torch

    from gaptools.align import make_aligner

    x_img, x_txt = np.load(folder / "bridge_image.npy"), np.load(folder / "bridge_text.npy")
    queries = np.load(folder / "queries.npy")
    bridge = make_aligner("diffusion-bridge")
    start, cpu_start = time.perf_counter(), time.process_time()
    bridge.fit(x_img, x_txt)
    fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    start, cpu_start = time.perf_counter(), time.process_time()
    out = bridge.transform(queries)
    apply_s, apply_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    assert out.shape == queries.shape and np.isfinite(out).all()
    memory = make_aligner("memory-projection").fit(x_img, x_txt)
    start, cpu_start = time.perf_counter(), time.process_time()
    memory.transform(queries)
    memory_s, memory_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    return {"fit_s": fit_s, "fit_cpu_s": fit_cpu_s, "apply_s": apply_s, "apply_cpu_s": apply_cpu_s,
            "memory_s": memory_s, "memory_cpu_s": memory_cpu_s, "memory_rows": len(memory.memory_txt_),
            "torch_threads": torch.get_num_threads(), "load": os.getloadavg()[0], "peak_mb": peak_rss_mb(),
            "captions": len(x_txt), "queries": len(queries), "dim": queries.shape[1], "params": bridge.get_params()}


def bridge_check(n_captions: int, n_queries: int, env: dict) -> None:
    """Print the diffusion-bridge fit on n_captions × DIM and its apply to n_queries beside memory projection's."""
    from gaptools.synthetic import planted_gap

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train = planted_gap(n_captions, DIM, shift=0.8, seed=0)  # one caption per image
        np.save(folder / "bridge_image.npy", train.image)
        np.save(folder / "bridge_text.npy", train.text)
        np.save(folder / "queries.npy", planted_gap(n_queries, DIM, shift=0.8, seed=1).image)
        del train
        out = subprocess.run([sys.executable, __file__, "--bridge-child", "--folder", str(folder)],
                             capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"diffusion-bridge check failed: {out.stderr.strip().splitlines()[-1]}")
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    p = r["params"]
    print(f"\ndiffusion-bridge, fit on {r['captions']:,} captions × {r['dim']} at the default size "
          f"({p['train_steps']} steps of {p['batch_size']}, width {p['width']}, {p['blocks']} blocks), "
          f"torch threads {r['torch_threads']}")
    print(f"  fit {r['fit_s']:.1f} s ({r['fit_cpu_s']:.1f} s CPU) = {r['fit_s'] / 600:.2f}× issue 25's 10-minute goal: "
          f"{'met' if r['fit_s'] <= 600 else 'NOT met'}")
    print(f"  apply to {r['queries']:,} images (t* {p['start_step']}, {p['sampling_steps']} DDIM steps) "
          f"{r['apply_s']:.2f} s ({r['apply_cpu_s']:.2f} s CPU) = {r['apply_s'] / r['memory_s']:.2f}× memory "
          f"projection's ({r['memory_s']:.2f} s, {r['memory_cpu_s']:.2f} s CPU, memory {r['memory_rows']:,}); "
          f"CPU-time ratio {r['apply_cpu_s'] / r['memory_cpu_s']:.2f}×; goal 10×: "
          f"{'met' if r['apply_s'] <= 10 * r['memory_s'] else 'NOT met'}")
    print(f"  peak RSS {r['peak_mb']:.0f} MB; 1-minute load average {r['load']:.1f} on {os.cpu_count()} CPUs")


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
    parser.add_argument("--memory-queries", type=int, help="memory check: queries (default 100,000; --quick 10,000; "
                                                           "0 skips it)")
    parser.add_argument("--memory-size", type=int, help="memory check: memory rows (default 10,000; --quick 1,000)")
    parser.add_argument("--bridge-captions", type=int, help="bridge check: fit captions (default 100,000; --quick "
                                                            "5,000; 0 skips it)")
    parser.add_argument("--bridge-queries", type=int, default=5000, help="bridge check: images applied to")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one method in this process
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bridge-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, Path(args.folder))))
        return
    if args.memory_child:
        print(json.dumps(run_memory(Path(args.folder))))
        return
    if args.bridge_child:
        print(json.dumps(run_bridge(Path(args.folder))))
        return

    env = dict(os.environ)
    if args.blas_threads:
        env.update(OPENBLAS_NUM_THREADS=str(args.blas_threads), OMP_NUM_THREADS=str(args.blas_threads))
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)  # the baseline, measured in this process
    from gaptools.synthetic import planted_gap

    sizes = (1000,) if args.quick else (5000, 50000)
    methods = [m for m in args.methods.split(",") if m and m != "none"]
    print(f"{os.cpu_count()} CPUs, BLAS threads: {args.blas_threads or 'default'}")
    print(f"{'n':>6} {'method':<18} {'fit s':>8} {'apply s':>8} {'x base':>7} {'peak MB':>8} {'arrays MB':>9}")
    for n in sizes if methods else ():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            train = planted_gap(n, DIM, shift=0.8, seed=0)
            np.save(folder / "train_image.npy", train.image)
            np.save(folder / "train_text.npy", train.text)
            test = planted_gap(n, DIM, shift=0.8, seed=1).image
            np.save(folder / "test_image.npy", test)
            base = baseline_seconds(test)
            print(f"{n:>6} {'(baseline)':<18} {'':>8} {base:>8.3f} {1:>7.1f}")
            for method in methods:
                out = subprocess.run([sys.executable, __file__, "--one", method, "--folder", str(folder)],
                                     capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    print(f"{n:>6} {method:<18} failed: {out.stderr.strip().splitlines()[-1]}")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                ratio = (r["fit_s"] + r["apply_s"]) / base
                print(f"{n:>6} {method:<18} {r['fit_s']:>8.2f} {r['apply_s']:>8.2f} {ratio:>7.1f} "
                      f"{r['peak_mb']:>8.0f} {r['arrays_mb']:>9.0f}", flush=True)
    n_queries = args.memory_queries if args.memory_queries is not None else (10_000 if args.quick else 100_000)
    if n_queries > 0:
        memory_check(n_queries, args.memory_size or (1_000 if args.quick else 10_000), env)
    n_captions = args.bridge_captions if args.bridge_captions is not None else (5_000 if args.quick else 100_000)
    if n_captions > 0:
        bridge_check(n_captions, args.bridge_queries, env)


if __name__ == "__main__":
    main()
