"""Response table: fit every aligner on half of an embedding set, apply it to the other half.

For each set, images are split in two halves by :meth:`gaptools.EmbeddingSet.split` (seeded, each
image with its captions; we fit on its test part, as issue 28 did); every aligner of the registry (``gaptools.ALIGNERS``) is fitted on one half (with
its true pairs, which only the supervised ones read) and applied to the images of the other
half (image → text). On that held-out half it prints

- **R@1 kept**: R@1 image → text after the aligner over R@1 before, on the held-out gallery;
- **cos after**: the matched cosine of the moved images with their captions;
- **gap after**: the centroid gap between the moved images and the captions;

with ``none`` (the held-out half as it is) as the first row. Sets are columns, side by side.
By default each image keeps its first caption (the issue-28 protocol: pairs are each image with
its first caption); ``--all-captions`` keeps them all (R@1 by the COCO rule, any caption). Each
figure is the mean over ``--splits`` seeded splits (seeds 0, 1, ...), with the spread (sd over
splits) of R@1 kept beside it: with 250 held-out pairs R@1 moves by a few points from one split
to the next. An aligner that cannot run (a package missing, an input it refuses) is marked with
the reason, not dropped.

Each aligner is applied as ``apply_to_set`` applies it (``transform_modalities``, image → text):
the images move and the captions stay, except for ``center`` and ``standardize``, which put both
modalities in one centred space and so move both.

Usage::

    .venv/bin/python bench/response.py                     # the shared real CLIP set and the shipped world
    .venv/bin/python bench/response.py A.npz B.npy --splits 3 --threads 1
    .venv/bin/python bench/response.py --methods mean,coral --json response.json

Sets: any file :func:`gaptools.load_set` reads (``.npz`` set, ``(2, N, D)`` ``.npy`` stack); the
default is ``../shared/data/real_clip_coco500/features_clip.npy`` (when present) and the shipped
world's test split (:data:`gaptools.demo.SHAPES_TEST`). BLAS (threadpoolctl) and torch run on
``--threads`` threads (default 1), printed with the machine's CPU count and the wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL_CLIP = ROOT.parent / "shared" / "data" / "real_clip_coco500" / "features_clip.npy"
#: What each row reports, in column order.
FIGURES = ("r1_kept", "cos_after", "gap_after")


def split_by_image(eset, seed: int):
    """Two halves of ``eset`` by image: :meth:`~gaptools.EmbeddingSet.split` at ``test=0.5``, roles swapped.

    ``split`` puts the first half of ``numpy.random.default_rng(seed).permutation`` in its test
    part; we fit on that half and hold out the other, as issue 28 did (its figures come back on
    seed 0).

    Returns
    -------
    (EmbeddingSet, EmbeddingSet)
        The fit half and the held-out half, each image with all its captions.
    """
    held, fit = eset.split(test=0.5, seed=seed)
    return fit, held


def held_out_figures(image: np.ndarray, text: np.ndarray, held) -> dict[str, float]:
    """R@1 image → text, matched cosine and centroid gap of ``image`` (G, D) and ``text`` (N, D), paired as ``held``."""
    from gaptools import metrics as M

    image, text = M.l2_normalize(image), M.l2_normalize(text)
    recall = M.recall_at_k(image, text, held.text_image, ks=(1,))["recall@1_i2t"]
    return {"r1": recall, "cos_after": M.matched_cosine(image, text, held.text_image),
            "gap_after": M.centroid_gap(image, text)}


def respond(fit, held, methods, *, seed: int = 0) -> dict[str, dict]:
    """Fit each of ``methods`` on ``fit``, apply it to ``held``'s images, and measure the held-out half.

    Parameters
    ----------
    fit, held : EmbeddingSet
        The two halves (:func:`split_by_image`).
    methods : iterable of str
        Registered aligner names.
    seed : int
        ``random_state``/``seed`` of the methods that take one.

    Returns
    -------
    dict
        ``{"none": figures, name: figures or {"skipped": reason}}``; figures are ``r1_kept``
        (R@1 i→t after / before), ``cos_after``, ``gap_after``, ``r1`` (after) and ``fit_s``.
    """
    from gaptools.align import make_aligner, set_pairs
    from gaptools.align.registry import params_for
    from gaptools.errors import GapToolsError

    before = held_out_figures(held.image, held.text, held)
    out = {"none": {**before, "r1_kept": 1.0, "fit_s": 0.0}}
    for name in methods:
        try:
            aligner = make_aligner(name, params_for(name, {"random_state": seed, "seed": seed}))
            start = time.perf_counter()
            aligner.fit(fit.image, fit.text, set_pairs(fit))
            fit_s = time.perf_counter() - start
            moved = aligner.transform_modalities(held.image, held.text, direction="image-to-text")
        except (GapToolsError, ImportError) as error:  # a refusal or a missing package: say which
            out[name] = {"skipped": f"{type(error).__name__}: {error}"}
            continue
        figures = held_out_figures(*moved, held)
        kept = figures["r1"] / before["r1"] if before["r1"] > 0 else float("nan")
        out[name] = {**figures, "r1_kept": kept, "fit_s": fit_s}
    return out


def response_table(eset, methods, *, splits: int = 5, all_captions: bool = False) -> dict:
    """:func:`respond` over ``splits`` seeded splits of one set, averaged.

    Returns
    -------
    dict
        ``{"rows": {name: {figure: mean, figure + "_sd": sd} or {"skipped": reason}},
        "n_fit", "n_held" (images), "n_pairs_held", "r1_before", "seconds"}``.
    """
    start = time.perf_counter()
    eset = eset if all_captions else eset.first_captions()
    runs = []
    for seed in range(splits):
        fit, held = split_by_image(eset, seed)
        runs.append(respond(fit, held, methods, seed=seed))
    rows = {}
    for name in runs[0]:
        skipped = [run[name]["skipped"] for run in runs if "skipped" in run[name]]
        if skipped:
            rows[name] = {"skipped": skipped[0]}
            continue
        rows[name] = {}
        for figure in (*FIGURES, "r1", "fit_s"):
            values = np.array([run[name][figure] for run in runs], dtype=np.float64)
            rows[name][figure] = float(values.mean())
            rows[name][f"{figure}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return {"rows": rows, "n_fit": fit.n_image, "n_held": held.n_image, "n_pairs_held": held.n_text,
            "r1_before": rows["none"]["r1"], "splits": splits, "seconds": time.perf_counter() - start}


def format_table(tables: dict[str, dict]) -> str:
    """A Markdown table: one row per aligner, three columns per set (R@1 kept ± sd, cos after, gap after)."""
    labels = list(tables)
    header = ["aligner"] + [f"{col}, {label}" for label in labels for col in ("R@1 kept", "cos after", "gap after")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    names = list(dict.fromkeys(name for t in tables.values() for name in t["rows"]))
    skipped = {}
    for name in names:
        cells = [name]
        for label in labels:
            row = tables[label]["rows"].get(name, {"skipped": "not run"})
            if "skipped" in row:
                cells += ["skipped", "", ""]
                skipped.setdefault(name, row["skipped"])
                continue
            kept = f"{row['r1_kept']:.2f}" + (f" ± {row['r1_kept_sd']:.2f}" if tables[label]["splits"] > 1 else "")
            cells += [kept, f"{row['cos_after']:.3f}", f"{row['gap_after']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\nskipped {name}: {reason}" for name, reason in skipped.items()]
    return "\n".join(lines)


def _label(path: Path) -> str:
    return path.parent.name if path.stem in ("features_clip", "test") else path.stem


def main(argv=None) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    import gaptools
    from gaptools.threads import usable_cpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="*", type=Path, help="embedding sets (default: the real CLIP set and the "
                        "shipped world)")
    parser.add_argument("--methods", default=",".join(gaptools.ALIGNERS), help="comma-separated aligners (default all)")
    parser.add_argument("--splits", type=int, default=5, help="seeded splits averaged (seeds 0..n-1; default 5)")
    parser.add_argument("--all-captions", action="store_true", help="keep every caption (default: the first of each "
                        "image)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    parser.add_argument("--json", type=Path, help="also write the tables as JSON here")
    args = parser.parse_args(argv)
    sets = args.sets or [p for p in (REAL_CLIP, gaptools.demo.SHAPES_TEST) if p.is_file()]
    methods = [m for m in args.methods.split(",") if m]
    start = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        torch = None
        if "diffusion-bridge" in methods:  # the one aligner that runs on torch
            try:
                import torch

                torch.set_num_threads(args.threads)
            except ImportError:
                pass  # the bridge's row then says what is missing
        blas = ", ".join(f"{i['internal_api']} {i['num_threads']} thread(s)" for i in threadpool_info()
                         if i["user_api"] == "blas")
        tables = {}
        for path in sets:
            eset = gaptools.load_set(path)
            tables[_label(path)] = response_table(eset, methods, splits=args.splits, all_captions=args.all_captions)
            table = tables[_label(path)]
            print(f"{_label(path)} ({path}): fit on {table['n_fit']} images, held out {table['n_held']} images "
                  f"/ {table['n_pairs_held']} pairs, R@1 i→t before {table['r1_before']:.3f}, "
                  f"{table['seconds']:.0f} s", flush=True)
    wall = time.perf_counter() - start
    print(f"\ncommand: {' '.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}")
    print(f"machine: {os.cpu_count()} CPUs ({usable_cpus()} usable), load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; BLAS: {blas or 'none found'}; torch threads "
          f"{torch.get_num_threads() if torch else 'n/a (not imported)'}; {args.splits} split(s), "
          f"{'all captions' if args.all_captions else 'first caption of each image'}; wall {wall:.0f} s\n")
    print(format_table(tables))
    if args.json:
        from gaptools.atomic import write_json

        write_json(args.json, {"tables": tables, "wall_s": wall, "threads": args.threads, "splits": args.splits})


if __name__ == "__main__":
    main()
