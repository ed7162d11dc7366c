"""Time `gaptools measure` on a large planted set and each metric against one numpy pass.

    python bench/measure.py            # 100k pairs x 512 dims, bootstrap 1000
    python bench/measure.py --quick    # 20k pairs

Prints the wall time of the whole suite and, for each O(N) step, its time as a multiple of
one numpy pass over the data (X.sum(axis=0) of both modalities), measured in the same run.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from busy import busy, load_average

from gaptools import metrics as M
from gaptools.measure import measure
from gaptools.synthetic import planted_gap
from gaptools.threads import configure

THREAD_SETTINGS = configure()  # the command line's thread policy (gaptools.threads)


def timed(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dim-ablation", action="store_true", help="also time the suite with the opt-in dimension ablation")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="also time the suite while N competing CPU-bound processes run (bench/busy.py)")
    args = parser.parse_args()
    n = 20_000 if args.quick else args.pairs
    s = planted_gap(n, args.dim, shift=0.5, seed=0)
    img, txt = s.image, s.text
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores; "
          f"{n} pairs x {args.dim} dims; thread settings: "
          f"{', '.join(f'{k}={v}' for k, v in THREAD_SETTINGS.items()) or 'all set by the user'}")

    base = timed(lambda: (img.sum(axis=0), txt.sum(axis=0)))
    print(f"baseline numpy pass (sum of both modalities): {base * 1e3:.1f} ms")
    steps = {
        "l2_normalize both": lambda: (M.l2_normalize(img), M.l2_normalize(txt)),
        "centroid_gap": lambda: M.centroid_gap(img, txt),
        "matched+random cosine (sums)": lambda: M.total(M.group_sums(img, txt, s.text_image, n_groups=n)),
        "image_cone": lambda: M.cone(img),
    }
    for name, fn in steps.items():
        t = timed(fn)
        print(f"  {name:32s} {t * 1e3:8.1f} ms  {t / base:5.1f}x baseline")

    measure(s.replace(image=img[:1000], text=txt[:1000], text_image=np.arange(1000)), bootstrap=10)  # warm imports
    t = time.perf_counter()
    measure(s, bootstrap=args.bootstrap)
    quiet = time.perf_counter() - t
    print(f"full measure suite (bootstrap {args.bootstrap}): {quiet:.1f} s ({load_average()} before)")
    if args.dim_ablation:
        t = time.perf_counter()
        measure(s, bootstrap=args.bootstrap, dim_ablation=True)
        ablated = time.perf_counter() - t
        print(f"  with --dim-ablation (gallery {min(n, 5000)} images): {ablated:.1f} s = {ablated / quiet:.2f}x")
    if args.busy:
        with busy(args.busy):
            t = time.perf_counter()
            measure(s, bootstrap=args.bootstrap)
            loaded = time.perf_counter() - t
        print(f"  with {args.busy} competing CPU-bound processes: {loaded:.1f} s = {loaded / quiet:.2f}x")


if __name__ == "__main__":
    main()
