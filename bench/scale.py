"""Streaming `measure` on synthetic clip-retrieval folders: memory, time against one reading pass, workers.

    python bench/scale.py                                # 0.5M and 2M pairs x 512, float16, bootstrap 1000
    python bench/scale.py --pairs 100000 --workers 1     # a quick look
    python bench/scale.py --dir /data/tmp --keep         # where the shards go (4 GB at 2M pairs), kept
    python bench/scale.py --data /data/tmp/gaptools-scale-xyz/all   # reuse shards a --keep run wrote

Writes float16 shards of ``--shard-rows`` pairs (a planted gap along one axis) into a temporary
folder, once for the largest size; smaller sizes link to its first shards. Each measurement runs
in a fresh process (so peak RSS is its own) with one BLAS thread per process, and prints:

- ``read``: the baseline, one plain numpy pass that reads every shard once (memory map, float16
  upcast to float32 block by block, column sums: the least any statistic of the rows needs);
- ``loop``: the same per-shard statistics as the streaming measure in a plain Python loop, no Dask;
- ``threads``: ``gaptools.stream.measure_folder`` on Dask's threaded scheduler (the default of
  ``gaptools measure FOLDER``), one thread per core;
- ``workers=k``: on a ``distributed.LocalCluster`` of k worker processes (``--workers k``);

each with its wall time, the ratio to ``read`` measured in the same run, and the peak RSS of
the process (for a cluster: the driver and the largest worker). An untimed reading pass first
puts the shards in the page cache, so no timed pass pays the disk. Then the equality check: streaming
against the in-memory ``measure`` of the first ``--equal-pairs`` pairs, every point estimate.
Timings on a shared machine vary with its load (printed); ratios are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")

import numpy as np  # noqa: E402

DIM = 512
POINT_ESTIMATES = ("centroid_gap", "matched_cosine", "random_cosine", "relative_gap", "image_cone", "text_cone",
                   "alignment", "frechet", "frechet_mean_term", "frechet_cov_term", "effective_rank_image",
                   "effective_rank_text")


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB: VmHWM, which exec resets.

    (``getrusage(...).ru_maxrss`` would not do: Linux carries the parent's peak across
    fork and exec, so a child spawned by a large parent reports the parent's.)
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- data


def generate(root: Path, pairs: int, shard_rows: int, seed: int = 0) -> None:
    """Float16 clip-retrieval shards: unit captions, images = normalize(caption content + 0.8·e₀)."""
    from gaptools.metrics import l2_normalize
    from gaptools.stream.shards import write_clip_shard

    rng = np.random.default_rng(seed)
    gap = np.zeros(DIM, dtype=np.float32)
    gap[0] = 0.8
    for k, start in enumerate(range(0, pairs, shard_rows)):
        n = min(shard_rows, pairs - start)
        content = rng.standard_normal((n, DIM), dtype=np.float32)
        text = l2_normalize(content + 0.5 * rng.standard_normal((n, DIM), dtype=np.float32))
        image = l2_normalize(l2_normalize(content) + gap)
        write_clip_shard(root, f"{k:04d}", image, text, dtype=np.float16)


def link_prefix(source: Path, target: Path, shards: int) -> None:
    """A folder of the first ``shards`` shards of ``source`` (symbolic links, no copies)."""
    for sub, prefix in (("img_emb", "img_emb_"), ("text_emb", "text_emb_")):
        (target / sub).mkdir(parents=True, exist_ok=True)
        for k in range(shards):
            (target / sub / f"{prefix}{k:04d}.npy").symlink_to(source / sub / f"{prefix}{k:04d}.npy")


# --------------------------------------------------------------------------- one measurement (child process)


def run_child(kind: str, folder: str, bootstrap: int) -> dict:
    from gaptools.stream.shards import iter_chunks, open_folder

    shards = open_folder(folder)
    start = time.perf_counter()
    extra = {}
    if kind == "read":
        total = np.zeros(DIM)
        for shard in shards.shards:
            for chunk in iter_chunks(shard):
                total += chunk.image.sum(axis=0) + chunk.text.sum(axis=0)
    elif kind == "loop":
        from gaptools.stream.measure import folder_document
        from gaptools.stream.stats import StatsConfig, merge_all, shard_stats

        cfg = StatsConfig(bootstrap=bootstrap, max_points=2000, max_gallery=5000)
        folder_document(merge_all(*[shard_stats(s, cfg) for s in shards.shards]), shards, cfg)
    elif kind == "threads":
        from gaptools.stream import measure_folder

        measure_folder(shards, bootstrap=bootstrap)
    elif kind.startswith("workers="):
        import distributed

        from gaptools.stream import measure_folder

        with distributed.LocalCluster(n_workers=int(kind.split("=")[1]), threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            start = time.perf_counter()  # the cluster's start-up (a few seconds) is not the pass
            measure_folder(shards, bootstrap=bootstrap, client=client)
            seconds = time.perf_counter() - start
            workers = client.run(peak_rss_mb)
            extra = {"worker_rss_mb": max(workers.values())}
            return {"seconds": seconds, "rss_mb": peak_rss_mb(), **extra}
    else:
        raise ValueError(kind)
    return {"seconds": time.perf_counter() - start, "rss_mb": peak_rss_mb(), **extra}


def run_equal(folder: str, bootstrap: int) -> dict:
    from gaptools.measure import measure
    from gaptools.stream import folder_to_set, measure_folder

    streamed = measure_folder(folder, bootstrap=bootstrap)
    in_memory = measure(folder_to_set(folder), bootstrap=bootstrap)
    diffs = {}
    for key in POINT_ESTIMATES:
        a, b = streamed["metrics"][key]["value"], in_memory["metrics"][key]["value"]
        diffs[key] = {"streaming": a, "in_memory": b, "abs": abs(a - b), "rel": abs(a - b) / max(abs(b), 1e-300)}
    shares = [abs(x[1] - y[1]) for x, y in zip(streamed["metrics"]["top_gap_dims"]["value"],
                                                in_memory["metrics"]["top_gap_dims"]["value"])]
    same_dims = [d for d, _ in streamed["metrics"]["top_gap_dims"]["value"]] == \
        [d for d, _ in in_memory["metrics"]["top_gap_dims"]["value"]]
    return {"diffs": diffs, "top_gap_dims_same": same_dims, "top_gap_share_abs": max(shares)}


def child(kind: str, folder: Path, bootstrap: int) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--folder", str(folder), "--bootstrap", str(bootstrap)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[500_000, 2_000_000])
    parser.add_argument("--shard-rows", type=int, default=100_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes timed at the smallest N")
    parser.add_argument("--kinds", default="read,loop,threads,workers",
                        help="what to time, in order (read is the baseline and always runs first); 'workers' is "
                             "every --workers size at the smallest N and the largest size above it")
    parser.add_argument("--equal-pairs", type=int, default=100_000, help="0: skip the equality check")
    parser.add_argument("--dir", type=Path, default=None, help="where the shards are written (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the shards")
    parser.add_argument("--data", type=Path, default=None,
                        help="the 'all' folder of a --keep run to reuse (at least the largest --pairs)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "equal":
        print(json.dumps(run_equal(args.folder, args.bootstrap)))
        return
    if args.child:
        print(json.dumps(run_child(args.child, args.folder, args.bootstrap)))
        return

    sizes = sorted(args.pairs)
    work = Path(tempfile.mkdtemp(prefix="gaptools-scale-", dir=args.dir))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared; load average "
          f"{os.getloadavg()[0]:.1f} at start); one BLAS thread per process; {DIM} dims, float16 shards of "
          f"{args.shard_rows} pairs in {work}; bootstrap {args.bootstrap}")
    try:
        if args.data is not None:
            (work / "all").symlink_to(args.data.resolve())
            print(f"reusing the shards of {args.data}")
        else:
            start = time.perf_counter()
            generate(work / "all", sizes[-1], args.shard_rows)
            print(f"generated {sizes[-1]} pairs in {time.perf_counter() - start:.0f} s")
        equal_shards = args.equal_pairs // args.shard_rows
        if equal_shards:
            equality(work, equal_shards, args)
        wanted = [k for k in args.kinds.split(",") if k != "read"]
        available = len(list((work / "all" / "img_emb").glob("img_emb_*.npy")))
        for n in sizes:
            need = -(-n // args.shard_rows)
            if need > available:
                raise SystemExit(f"{args.data} holds {available} shards, {n} pairs need {need}")
            folder = work / "all" if need == available else work / f"n{n}"
            if need != available:
                link_prefix(work / "all", folder, need)
            kinds = ["read"]
            for kind in wanted:
                if kind == "workers":
                    kinds += [f"workers={k}" for k in (args.workers if n == sizes[0] else [max(args.workers)])]
                elif kind != "loop" or n == sizes[0]:
                    kinds.append(kind)
            print(f"\n{n} pairs ({-(-n // args.shard_rows)} shards), load average {os.getloadavg()[0]:.1f}:")
            child("read", folder, args.bootstrap)  # warm the page cache: every timed pass reads from memory
            rows = {}
            for kind in kinds:
                rows[kind] = r = child(kind, folder, args.bootstrap)
                ratio = r["seconds"] / rows["read"]["seconds"]
                workers = f", largest worker {r['worker_rss_mb']:.0f} MB" if "worker_rss_mb" in r else ""
                print(f"  {kind:10s} {r['seconds']:8.1f} s  {ratio:5.2f}x read   peak RSS {r['rss_mb']:.0f} MB{workers}"
                      f"   (load {os.getloadavg()[0]:.1f})", flush=True)
            one, many = (f"workers={min(args.workers)}", f"workers={max(args.workers)}")
            if one in rows and many in rows and one != many:
                print(f"  speed-up of {many} over {one}: {rows[one]['seconds'] / rows[many]['seconds']:.2f}x")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def equality(work: Path, shards: int, args) -> None:
    """Print streaming against in-memory point estimates on the first ``shards`` shards."""
    link_prefix(work / "all", work / "equal", shards)
    result = child("equal", work / "equal", args.bootstrap)
    worst = max(result["diffs"].items(), key=lambda kv: min(kv[1]["abs"], kv[1]["rel"]))
    print(f"\nequality, streaming vs in-memory on {shards * args.shard_rows} pairs (bootstrap {args.bootstrap}):")
    for key, d in result["diffs"].items():
        print(f"  {key:22s} {d['streaming']:.10g}  {d['in_memory']:.10g}  |diff| {d['abs']:.2e}  rel {d['rel']:.2e}")
    print(f"  top_gap_dims: same dims {result['top_gap_dims_same']}, largest share diff "
          f"{result['top_gap_share_abs']:.2e}; worst: {worst[0]} (min(abs, rel) "
          f"{min(worst[1]['abs'], worst[1]['rel']):.2e})", flush=True)


if __name__ == "__main__":
    main()
