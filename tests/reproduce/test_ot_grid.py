"""The OT grid of the reproduction plan: every cell fitted as named, the paper's in-sample cell of norm 1/n, the
renormalised in-sample plan leaking the test captions, the control, and a real captioner collapsing on the
paper's cell (tiny-norm inputs fed without its input normalisation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaptools.align import load_aligner
from gaptools.caption.checkpoint import load_run
from gaptools.caption.data import prepare_inputs
from gaptools.caption.eval_run import caption_inputs
from gaptools.caption.evaluate import diversity, plain_tokens
from gaptools.caption.model import init_decoder
from gaptools.caption.tokenizer import train_tokenizer
from gaptools.caption.train import TrainConfig, train
from gaptools.io import EmbeddingSet, save_set
from gaptools.reproduce.experiment import Experiment, _ot_grid, eval_plan, ot_grid_files

COLOURS, SHAPES = ["red", "blue", "green", "pink", "black", "white"], ["circle", "square", "star", "heart"]
DIM = 16


def planted(n_images: int, seed: int) -> EmbeddingSet:
    """Unit-norm images and one caption each, sharing a per-image direction, with a gap along axis 0."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_images, DIM))
    gap = np.zeros(DIM)
    gap[0] = 3.0
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    image = unit(base + 0.3 * rng.normal(size=base.shape))
    text = unit(base + gap + 0.3 * rng.normal(size=base.shape))
    captions = [f"a {COLOURS[i % 6]} {SHAPES[i % 4]}" for i in range(n_images)]
    return EmbeddingSet(image=image.astype(np.float32), text=text.astype(np.float32), text_image=np.arange(n_images),
                        image_id=np.array([f"im{i}.png" for i in range(n_images)]), caption=np.array(captions),
                        meta={"dataset": "planted"})


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    fit, test = save_set(planted(40, 1), root / "fit.npz"), save_set(planted(60, 2), root / "test.npz")
    exp = Experiment(annotations="-", images="-", aligners=("mean", "ot-paper", "ot-plan-images"))
    _ot_grid(exp, fit, test, root)
    return exp, root, planted(40, 1), planted(60, 2)


def cell(root, name):
    return load_aligner(root / "aligners" / "ot-grid" / f"{name}.aligner").aligner


def test_every_cell_is_fitted_where_its_name_says(grid):
    exp, root, fit, test = grid
    names = [p.name for p in ot_grid_files(exp, root)]
    assert names == [f"{m}.{w}.{o}.aligner" for m in ("ot-paper", "ot-plan-images") for w in ("val", "test")
                     for o in ("renorm", "raw")] + ["ot-paper.val.control.aligner"]
    assert all(p.is_file() for p in ot_grid_files(exp, root))
    plan = eval_plan(exp, root, root / "test.npz", seed=0)
    assert plan["uclipcap-otgrid"].normalize is None and plan["uclipcap-otgrid-unnormalised"].normalize is False
    assert len(plan["uclipcap-otgrid"].aligners) == 9 and plan["uclipcap-loo"].references == "leave-one-out"


def test_the_papers_cell_in_sample_is_the_plan_product_of_norm_one_over_n(grid):
    _, root, fit, test = grid
    out = cell(root, "ot-paper.test.raw").transform(test.image)  # in sample: each image is a fitted point
    assert np.linalg.norm(out, axis=1) == pytest.approx(np.full(60, 1 / 60), rel=1e-4)  # n = m: one text / n
    out_of_sample = cell(root, "ot-paper.val.raw").transform(test.image)
    assert np.linalg.norm(out_of_sample, axis=1).min() > 0.3  # out of sample the residual x − x_nn dominates


def test_a_renormalised_in_sample_plan_hands_over_the_test_captions(grid):
    _, root, fit, test = grid
    out = cell(root, "ot-paper.test.renorm").transform(test.image)
    cosines = out @ test.text.T
    assert cosines.max(axis=1) == pytest.approx(np.ones(60), abs=1e-5)  # each image becomes a test caption


def test_the_control_is_the_residual_to_the_nearest_val_image(grid):
    _, root, fit, test = grid
    out = cell(root, "ot-paper.val.control").transform(test.image)
    nearest = ((test.image[:, None, :] - fit.image[None]) ** 2).sum(-1).argmin(axis=1)
    residual = test.image - fit.image[nearest]
    expected = residual / np.linalg.norm(residual, axis=1, keepdims=True)
    assert out == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_a_real_captioner_collapses_on_the_papers_cell(grid, tmp_path):
    """Trained on 24 planted images' captions. Fed the in-sample plan renormalised (the test captions themselves,
    the leak) it writes varied captions; fed the paper's cell (the same targets at norm 1/60, its input
    normalisation off) its prefix hardly depends on the image: one caption for (nearly) every image."""
    _, root, fit, test = grid
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_set = save_set(planted(24, 3), tmp_path / "train.npz")
        tok = train_tokenizer([f"a {c} {s}" for c in COLOURS for s in SHAPES], tmp_path / "tok", vocab_size=260)
        torch.manual_seed(0)
        init_decoder(tmp_path / "decoder", tok, n_layer=1, n_embd=32, n_head=2, n_positions=32,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        train(TrainConfig(data=str(train_set), output=str(tmp_path / "run"), decoder=str(tmp_path / "decoder"),
                          target="same", prefix_length=2, lr=3e-3, warmup=0, epochs=100, batch_size=8,
                          log_every=1000, device="cpu"), say=lambda _: None)
        model, tokenizer, config = load_run(tmp_path / "run", "cpu")

        def captions(x, normalize):
            x = prepare_inputs(x, normalize=normalize, text_mean=config.get("text_mean"))
            out = caption_inputs(model, tokenizer, x, beam=1, max_length=8, batch_size=64, device="cpu")
            return diversity([plain_tokens(c) for c in out])

        renormalised = captions(cell(root, "ot-paper.test.renorm").transform(test.image), normalize=True)
        paper_cell = captions(cell(root, "ot-paper.test.raw").transform(test.image), normalize=False)
        assert renormalised["distinct_captions"] >= 6 and not renormalised["mode_collapse"]  # the leak reads well
        assert paper_cell["mode_collapse"] and paper_cell["distinct_captions"] <= 2
    finally:
        torch.set_num_threads(threads)
