"""Every aligner on real embeddings of three more model families, out of sample.

ConVIRT (medical image–report), VideoCLIP (video–text) and CLASP (protein–text), each trained
and randomly initialised ('Mind the Gap' Fig. 1 panels, ../shared/data/modality_gap_models,
float32 (2, N, D) stacks, row i a pair). Each registered aligner is fitted on a seeded half of
the pairs and applied, both ways, to the other half (issue 14, "Real data across model
families"): it must run, give finite embeddings of the input's shape (unit length, as every
method renormalises by default), and where it promises to close the gap (``closes_gap``) the
held-out centroid gap must shrink. Skips without the folder.

``python tests/gaptools/test_align_model_families.py`` prints the gaps before and after as a
Markdown table (the one in the notes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaptools.align import DIRECTIONS, METHODS, apply_to_set, fit_on_set
from gaptools.io import EmbeddingSet, from_pairs
from gaptools.metrics import centroid_gap

#: file stems (features_<stem>.npy) -> (pairs, dimension), as the data README states
STEMS = {
    "convirt": (500, 512),
    "convirt_random": (500, 512),
    "videoclip": (100, 768),
    "videoclip_random": (100, 768),
    "clasp": (99, 768),
    "clasp_random": (99, 768),
}
SPLIT_SEED = 0
#: OT fitted on at most 250 points a side: the largest fit half (ConVIRT's), so nothing is
#: subsampled and exact OT stays a 250 x 250 assignment.
OT_FIT_POINTS = 250
PARAMS = {name: {"max_fit_points": OT_FIT_POINTS} for name in ("ot-exact", "ot-paper", "ot-sinkhorn")}
PARAMS["diffusion-bridge"] = {"train_steps": 200}  # the contract, not the method's quality (tested on its own)


def split_pairs(path: Path, seed: int = SPLIT_SEED) -> tuple[EmbeddingSet, EmbeddingSet]:
    """A (2, N, D) stack as a fit half (N // 2 pairs, seeded draw) and the held-out rest."""
    stack = np.load(path, allow_pickle=False)
    order = np.random.default_rng(seed).permutation(stack.shape[1])
    fit, held = order[: stack.shape[1] // 2], order[stack.shape[1] // 2:]
    return (from_pairs(stack[0, fit], stack[1, fit], source=f"{path.name} fit half"),
            from_pairs(stack[0, held], stack[1, held], source=f"{path.name} held-out half"))


def fit_and_apply(path: Path, method: str):
    """Fit ``method`` on the fit half of ``path``; the aligner, the held-out half and it aligned each way.

    Returns
    -------
    aligner : Aligner
    held : EmbeddingSet
    aligned : dict
        ``{direction: EmbeddingSet}`` for each of :data:`~gaptools.align.DIRECTIONS`.
    """
    fit, held = split_pairs(path)
    aligner = fit_on_set(method, fit, PARAMS.get(method))
    return aligner, held, {d: apply_to_set(aligner, held, direction=d) for d in DIRECTIONS}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("stem", list(STEMS))
def test_aligner_fits_applies_and_shrinks_the_held_out_gap(shared_data, stem, method):
    path = shared_data / "modality_gap_models" / f"features_{stem}.npy"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    aligner, held, aligned = fit_and_apply(path, method)
    n, dim = STEMS[stem]
    assert (held.n_image, held.n_text, held.dim) == (n - n // 2, n - n // 2, dim)
    before = centroid_gap(held.image, held.text)
    assert before > 0.5  # every one of these models shows a gap (test_measures_models)
    for direction, out in aligned.items():
        for side, got in (("image", out.image), ("text", out.text)):
            assert got.shape == (n - n // 2, dim) and got.dtype == np.float32, (direction, side)
            assert np.isfinite(got).all(), (direction, side)
            if aligner.renormalize:  # the moved side and the side left in place alike
                np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5, err_msg=f"{direction} {side}")
        np.testing.assert_array_equal(out.text_image, held.text_image)  # pairs untouched
        if METHODS[method].closes_gap:
            after = centroid_gap(out.image, out.text)
            assert after < before, f"{stem} {method} {direction}: held-out gap {before:.3f} -> {after:.3f}"


def gap_table(folder: Path) -> str:
    """Held-out centroid gap before and after each aligner on each file, as Markdown."""
    cells = {stem: [] for stem in STEMS}
    for stem in STEMS:
        for method in METHODS:
            _, held, aligned = fit_and_apply(folder / f"features_{stem}.npy", method)
            after = [centroid_gap(aligned[d].image, aligned[d].text) for d in DIRECTIONS]
            cells[stem].append("{:.3f} / {:.3f}".format(*after))
        cells[stem].insert(0, f"{centroid_gap(held.image, held.text):.3f}")
    names = ["gap before"] + [m if METHODS[m].closes_gap else f"{m} (no promise)" for m in METHODS]
    lines = ["| held-out half | " + " | ".join(STEMS) + " |", "|---" * (len(STEMS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cells[stem][row] for stem in STEMS) + " |" for row, name in enumerate(names)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(gap_table(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "modality_gap_models"))
