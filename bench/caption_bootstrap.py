"""Image-bootstrap of caption scores: per-image statistics against rescoring each resample with pycocoevalcap.

    python bench/caption_bootstrap.py            # 5,000 Flickr8k images, 1,000 resamples
    python bench/caption_bootstrap.py --quick    # 1,000 images, 200 resamples

Data: Flickr8k captions from ``../shared/data`` (images with five captions; the first caption
stands in for a generated one, the other four are its references), already tokenised the
simple way (lower case, final " ." dropped), so no Java runs: the comparison covers BLEU-1..4
and CIDEr-D, the two metrics whose resampling is not a plain mean (METEOR's is a sum of
statistics, timed with them in the tests' equality check, not here).

Measured in the same run:

- ``caption.bootstrap``: per-image statistics once, then ``bootstrap_scores`` (all resamples);
- the baseline: pycocoevalcap's ``Bleu(4)`` and ``Cider()`` on a few resamples (each copy of an
  image renamed as a distinct id), extrapolated to the same number of resamples;

and the largest difference between the two on those resamples. Times are CPU seconds of this
process (``time.process_time``) on one thread (``OMP_NUM_THREADS`` and friends set to 1 before
numpy loads), so other processes on a shared machine do not change them.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from gaptools.caption.bootstrap import bootstrap_scores, image_stats, resample_counts, score_draws  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flickr8k" / "Flickr8k.token.txt"
BASELINE_RESAMPLES = 3


def flickr8k(n_images: int) -> tuple[dict, dict]:
    """``gts, res`` as pycocoevalcap's scorers take them: the first caption of each image is the hypothesis."""
    captions: dict[str, list[str]] = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        key, caption = line.split("\t")
        captions.setdefault(key.split("#")[0], []).append(caption.lower().removesuffix(" .").strip())
    keys = [k for k, v in captions.items() if len(v) == 5][:n_images]
    return {k: captions[k][1:] for k in keys}, {k: captions[k][:1] for k in keys}


def rescored(gts: dict, res: dict, counts: np.ndarray) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    g, r = {}, {}
    for key, times in zip(res, counts.astype(int)):
        for copy in range(times):
            g[f"{key}#{copy}"], r[f"{key}#{copy}"] = gts[key], res[key]
    bleu, _ = Bleu(4).compute_score(g, r, verbose=0)
    cider, _ = Cider().compute_score(g, r)
    return {**{f"Bleu_{k + 1}": 100 * v for k, v in enumerate(bleu)}, "CIDEr": 100 * cider}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 images, 200 resamples")
    args = parser.parse_args()
    n_images, n_boot = (1000, 200) if args.quick else (5000, 1000)
    if not DATA.is_file():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/data")
    gts, res = flickr8k(n_images)
    print(f"{platform.processor() or platform.machine()}, 1 thread, {len(res)} images, {n_boot} resamples")

    start = time.process_time()
    stats = image_stats(gts, res)
    t_stats = time.process_time() - start
    start = time.process_time()
    intervals = bootstrap_scores(stats, n_boot, seed=0)
    t_boot = time.process_time() - start

    counts = next(resample_counts(len(res), BASELINE_RESAMPLES, seed=1))
    start = time.process_time()
    slow = [rescored(gts, res, row) for row in counts]
    t_slow = (time.process_time() - start) / BASELINE_RESAMPLES
    fast = score_draws(stats, counts)
    worst = max(abs(fast[k][i] - s[k]) / max(1.0, abs(s[k])) for i, s in enumerate(slow) for k in s)

    print(f"per-image statistics (once):            {t_stats:7.2f} s")
    print(f"bootstrap, {n_boot} resamples:              {t_boot:7.2f} s")
    print(f"pycocoevalcap BLEU+CIDEr, one resample: {t_slow:7.2f} s  -> {n_boot} resamples ~ {t_slow * n_boot:,.0f} s")
    print(f"speed-up (statistics + bootstrap vs rescoring): {t_slow * n_boot / (t_stats + t_boot):,.0f}x")
    print(f"largest relative difference on {BASELINE_RESAMPLES} resamples: {worst:.1e}")
    print("95% intervals: " + ", ".join(f"{k} {lo:.2f}-{hi:.2f}" for k, (lo, hi) in intervals.items()))


if __name__ == "__main__":
    main()
