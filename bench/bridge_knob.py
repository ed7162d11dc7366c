"""How the diffusion bridge's ``start_step`` trades pair fidelity for text-likeness on the shipped world.

Usage::

    .venv/bin/python bench/bridge_knob.py                      # 1,250 and 5,000 fit captions (~1 min a fit)
    .venv/bin/python bench/bridge_knob.py --captions 5000 --steps 0,100,300,600,999

Data: the shipped shapes world (``gaptools/data/shapes/``, whatever is there). The test split's
images are cut in two halves: the first half gives the bridge its image mean (all it reads of
images), the second is held out and measured against its own captions. The captions the denoiser
trains on are a seeded draw of ``--captions`` rows of ``train_text.npz`` (the train split's
captions: other images than the held-out ones, so nothing of the held-out pairs is seen). A small
denoiser memorises a small caption set, and a bridged image then becomes one of those captions,
so the figures depend on the caption count: one table per count.

Columns, on the held-out half (images → text, the captions left in place): ``gap`` the centroid
gap, ``pair cos`` the matched cosine (image with its own captions), ``R@1`` image→text recall@1,
``sep.`` linear separability of images from their first captions (equally many: 0.5 is
indistinguishable, text-like). Rows: the
raw images, the mean shift fitted on the same halves, and the bridge at each ``start_step``
(default parameters otherwise; ``add_noise`` rows noise the images to t* first). The bridge is
fitted once per caption count; ``start_step`` and ``add_noise`` are apply-time settings.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captions", default="1250,5000", help="fit caption counts, comma-separated")
    parser.add_argument("--steps", default="0,200,400,600,999", help="start_step values, comma-separated")
    parser.add_argument("--noise-steps", default="600,999", help="start_step values with add_noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from gaptools.align import make_aligner
    from gaptools.demo import SHAPES_TEST, SHAPES_TRAIN_TEXT
    from gaptools.io import load_set
    from gaptools.metrics import centroid_gap, linear_separability, matched_cosine, recall_at_k

    test, train_text = load_set(SHAPES_TEST), load_set(SHAPES_TRAIN_TEXT)
    half = test.n_image // 2
    held_rows = test.text_image >= half
    fit_img = test.image[:half]
    held_img, held_txt, held_group = test.image[half:], test.text[held_rows], test.text_image[held_rows] - half
    first_caption = held_txt[np.unique(held_group, return_index=True)[1]]  # one per held-out image: balanced classes

    def row(label: str, image: np.ndarray) -> str:
        r1 = recall_at_k(image, held_txt, held_group)["recall@1_i2t"]
        cells = (centroid_gap(image, held_txt), matched_cosine(image, held_txt, held_group), r1,
                 linear_separability(image, first_caption, seed=args.seed))
        return f"| {label} | " + " | ".join(f"{v:.3f}" for v in cells) + " |"

    print(f"shapes world {SHAPES_TEST.parent}: {test.n_image} test images ({half} for the image mean, "
          f"{test.n_image - half} held out with {len(held_txt)} captions), {train_text.n_text} train captions, "
          f"{test.dim}-d; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    rng = np.random.default_rng(args.seed)
    for count in (int(c) for c in args.captions.split(",")):
        rows = np.sort(rng.choice(train_text.n_text, size=min(count, train_text.n_text), replace=False))
        fit_txt = train_text.text[rows]
        start, cpu = time.perf_counter(), time.process_time()
        bridge = make_aligner("diffusion-bridge", {"seed": args.seed}).fit(fit_img, fit_txt)
        wall_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        print(f"\n{len(fit_txt)} fit captions; bridge fit {wall_s:.1f} s ({cpu_s:.1f} s CPU), defaults "
              f"{ {k: v for k, v in bridge.get_params().items() if k not in ('start_step', 'add_noise')} }\n")
        print("| held-out images | gap | pair cos | R@1 i→t | sep. |\n|---|---|---|---|---|")
        print(row("raw", held_img))
        print(row("mean shift", make_aligner("mean").fit(fit_img, fit_txt).transform(held_img)))
        settings = [(int(s), False) for s in args.steps.split(",") if s] + \
                   [(int(s), True) for s in args.noise_steps.split(",") if s]
        for step, noise in settings:
            bridge.start_step, bridge.add_noise = step, noise
            print(row(f"bridge t*={step}{' add_noise' if noise else ''}", bridge.transform(held_img)), flush=True)


if __name__ == "__main__":
    main()
