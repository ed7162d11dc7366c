"""How far 500 pairs pin issue 28's covariance figures: a pair bootstrap of each.

``gaptools measure`` gives the participation ratios and the subspace agreement without an
interval (each is a whole covariance's eigenvalues or eigenvectors, not a sum its image-level
bootstrap can reweight). This bench gives them one: on each image's first caption (issue 28's
pairs), it resamples pairs with replacement ``--resamples`` times and prints the 2.5, 50 and
97.5 percentiles of each figure beside its value on the set itself, one column per set.

Resampling with replacement repeats pairs, so a resample holds about 63% distinct pairs and
its covariance sees fewer independent directions. The participation ratios, which grow with
the number of pairs at these sizes, come out well below their value (real CLIP's image ratio:
42.7, resamples 36.8 to 41.8): their intervals say how much the figure moves, not where it
lies. The agreement moves far less with the pair count (median within a point of its value),
so its interval is the one to read against a band. The table prints each median for that reason.

Usage::

    .venv/bin/python bench/structure_interval.py                  # the real CLIP set and the shipped world
    .venv/bin/python bench/structure_interval.py A.npz B.npy --resamples 300
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL_CLIP = ROOT.parent / "shared" / "data" / "real_clip_coco500" / "features_clip.npy"
#: the figures, in the table's row order (``gaptools.measure``'s keys)
FIGURES = ("participation_ratio_image", "participation_ratio_text", "participation_ratio_residual",
           "subspace_agreement")


def figures(image: np.ndarray, text: np.ndarray) -> dict[str, float]:
    """Issue 28's covariance figures of N pairs (row i of ``image`` with row i of ``text``, both (N, D))."""
    from gaptools import metrics as M

    cov_img, cov_txt = M.gaussian_fit(image)[1], M.gaussian_fit(text)[1]
    return {"participation_ratio_image": M.participation_ratio_from_cov(cov_img),
            "participation_ratio_text": M.participation_ratio_from_cov(cov_txt),
            "participation_ratio_residual": M.residual_participation_ratio(image, text),
            "subspace_agreement": M.subspace_agreement_from_covs(cov_img, cov_txt)}


def pair_bootstrap(eset, *, resamples: int = 300, seed: int = 0) -> dict[str, dict[str, float]]:
    """Each figure on the set's first-caption pairs, with its pair-bootstrap percentiles.

    Parameters
    ----------
    eset : gaptools.EmbeddingSet
        Images with captions; each image keeps its first caption.
    resamples : int
        Bootstrap resamples of the pairs (with replacement).
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``{"n_pairs": int, "figures": {figure: {"value", "p2.5", "p50", "p97.5"}}}``.
    """
    from gaptools import metrics as M

    one = eset.first_captions()
    image, text = M.l2_normalize(one.image[one.text_image]), M.l2_normalize(one.text)
    picks = np.random.default_rng(seed).integers(0, len(image), size=(resamples, len(image)))
    draws = [figures(image[rows], text[rows]) for rows in picks]
    value = figures(image, text)
    out = {}
    for key in FIGURES:
        low, mid, high = np.percentile([d[key] for d in draws], [2.5, 50, 97.5])
        out[key] = {"value": value[key], "p2.5": float(low), "p50": float(mid), "p97.5": float(high)}
    return {"n_pairs": len(image), "figures": out}


def format_table(tables: dict[str, dict]) -> str:
    """A Markdown table: one row per figure, one column per set: value (bootstrap median [2.5%, 97.5%])."""
    lines = ["| figure | " + " | ".join(f"{label} ({t['n_pairs']} pairs)" for label, t in tables.items()) + " |",
             "|" + "---|" * (len(tables) + 1)]
    for key in FIGURES:
        digits = 3 if key == "subspace_agreement" else 1
        cells = []
        for t in tables.values():
            f = t["figures"][key]
            cells.append(f"{f['value']:.{digits}f} (median {f['p50']:.{digits}f} [{f['p2.5']:.{digits}f}, "
                         f"{f['p97.5']:.{digits}f}])")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    from threadpoolctl import threadpool_limits

    import gaptools

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="*", type=Path, help="embedding sets (default: the real CLIP set and the "
                        "shipped world)")
    parser.add_argument("--resamples", type=int, default=300, help="pair-bootstrap resamples (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args(argv)
    sets = args.sets or [p for p in (REAL_CLIP, gaptools.demo.SHAPES_TEST) if p.is_file()]
    start = time.perf_counter()
    with threadpool_limits(args.threads):
        tables = {f"{p.parent.name}/{p.name}": pair_bootstrap(gaptools.load_set(p), resamples=args.resamples,
                                                               seed=args.seed) for p in sets}
    print(format_table(tables))
    print(f"\n{args.resamples} resamples, seed {args.seed}, {args.threads} BLAS thread(s), "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
