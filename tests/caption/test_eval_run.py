"""The eval driver on a tiny trained run: folder layout, mixup end points, aligners, world figures, bad input."""

import json

import numpy as np
import pytest
import torch

from gaptools.align import fit_on_set, save_aligner
from gaptools.caption.eval_run import EvalConfig, eval_data, run_eval
from gaptools.caption.model import init_decoder
from gaptools.caption.tokenizer import train_tokenizer
from gaptools.caption.train import TrainConfig, train
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, save_set

COLOURS, SHAPES = ["red", "blue", "green", "pink", "black", "white"], ["circle", "square", "star", "heart"]
DIM, PER_IMAGE = 16, 3


def planted_set(n_images=12, dim=DIM, seed=0, meta=None):
    """Images and captions that share a per-image direction (so the run learns something), plus a modality gap."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_images, dim))
    gap = np.zeros(dim)
    gap[0] = 3.0
    image = base + 0.3 * rng.normal(size=base.shape)
    text = np.repeat(base, PER_IMAGE, axis=0) + gap + 0.3 * rng.normal(size=(n_images * PER_IMAGE, dim))
    captions = [f"a {COLOURS[i % 6]} {SHAPES[i % 4]} number {k}" for i in range(n_images) for k in range(PER_IMAGE)]
    return EmbeddingSet(image=image, text=text, text_image=np.repeat(np.arange(n_images), PER_IMAGE),
                        image_id=np.array([f"img{i:02d}.png" for i in range(n_images)]), caption=np.array(captions),
                        meta=meta or {"dataset": "planted"})


@pytest.fixture(scope="module")
def run_and_set(tmp_path_factory):
    """A text-trained (Unsupervised-ClipCap) run on a tiny GPT-2, and its planted set (one torch thread:
    tiny steps on a shared 2-core machine are faster without thread contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval")
    eset = planted_set()
    set_path = save_set(eset, root / "set.npz")
    tok = train_tokenizer(list(eset.caption), root / "tok", vocab_size=300)
    torch.manual_seed(0)
    init_decoder(root / "decoder", tok, n_layer=2, n_embd=32, n_head=2, n_positions=64,
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    train(TrainConfig(data=str(set_path), output=str(root / "run"), decoder=str(root / "decoder"), prefix_length=2,
                      lr=3e-3, warmup=0, epochs=40, batch_size=36, log_every=1000, device="cpu"), say=lambda _: None)
    yield root / "run", set_path, eset
    torch.set_num_threads(threads)


def _predictions(folder, name="predictions.json"):
    return {p["image_id"]: p["caption"] for p in json.loads((folder / name).read_text())}


def test_image_eval_writes_the_folder(run_and_set, tmp_path):
    run, set_path, eset = run_and_set
    doc = run_eval(EvalConfig(run=str(run), set=str(set_path)), tmp_path / "ev")
    files = sorted(p.name for p in (tmp_path / "ev").iterdir())
    assert files == [".gaptools-output.json", "checksums.json", "config.json", "image_stats.npz", "metrics.json",
                     "predictions.json"]
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text()) == doc
    assert doc["kind"] == "caption.eval" and doc["version"] == 1 and doc["n_images"] == 12
    (entry,) = doc["configurations"]
    assert {k: entry[k] for k in ("input", "aligner", "mixup", "beam", "predictions", "references")} == \
        {"input": "image", "aligner": None, "mixup": None, "beam": 1, "predictions": "predictions.json",
         "references": "all"}
    assert list(entry["metrics"]) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr",
                                      "caption_average"]
    preds = _predictions(tmp_path / "ev")
    assert sorted(preds) == sorted(eset.image_id) and all(isinstance(c, str) for c in preds.values())


def test_mixup_end_points_equal_image_and_text_inputs(run_and_set, tmp_path):
    run, set_path, _ = run_and_set
    doc = run_eval(EvalConfig(run=str(run), set=str(set_path), mixup=[0, 0.5, 1], seed=3), tmp_path / "mix")
    assert [c["predictions"] for c in doc["configurations"]] == \
        ["predictions_mixup-0.json", "predictions_mixup-0.5.json", "predictions_mixup-1.json"]
    run_eval(EvalConfig(run=str(run), set=str(set_path), seed=3), tmp_path / "image")
    run_eval(EvalConfig(run=str(run), set=str(set_path), input="text", seed=3), tmp_path / "text")
    assert _predictions(tmp_path / "mix", "predictions_mixup-0.json") == _predictions(tmp_path / "image")
    assert _predictions(tmp_path / "mix", "predictions_mixup-1.json") == _predictions(tmp_path / "text")
    assert _predictions(tmp_path / "image") != _predictions(tmp_path / "text")
    config = json.loads((tmp_path / "text" / "config.json").read_text())
    assert config["caption_of_image"] == eval_data(run_and_set[2], seed=3).chosen.tolist()
    assert config["eval"]["seed"] == 3 and config["eval"]["input"] == "text"


def test_seeded_caption_choice_is_one_of_the_images_own(run_and_set):
    eset = run_and_set[2]
    a, b = eval_data(eset, seed=1), eval_data(eset, seed=1)
    assert np.array_equal(a.chosen, b.chosen)
    assert np.array_equal(eset.text_image[a.chosen], a.groups)
    assert any(not np.array_equal(eval_data(eset, seed=s).chosen, a.chosen) for s in range(2, 6))
    assert eval_data(eset, seed=0, limit=5).groups.tolist() == [0, 1, 2, 3, 4]


def test_aligner_rows_and_their_checks(run_and_set, tmp_path):
    run, set_path, eset = run_and_set
    mean = fit_on_set("mean", eset)
    good = save_aligner(mean, tmp_path / "mean.aligner", direction="image-to-text")
    doc = run_eval(EvalConfig(run=str(run), set=str(set_path), aligners=[str(good)], beam=2), tmp_path / "al")
    (entry,) = doc["configurations"]
    assert entry["aligner"] == str(good) and entry["beam"] == 2 and entry["name"] == "aligner-mean"
    backwards = save_aligner(mean, tmp_path / "back.aligner", direction="text-to-image")
    with pytest.raises(InputError, match="saved for text-to-image.*needs image-to-text"):
        run_eval(EvalConfig(run=str(run), set=str(set_path), aligners=[str(backwards)]), tmp_path / "x")
    other_dim = save_aligner(fit_on_set("mean", planted_set(dim=8)), tmp_path / "d8.aligner")
    with pytest.raises(InputError, match="fitted on 8-dimensional"):
        run_eval(EvalConfig(run=str(run), set=str(set_path), aligners=[str(other_dim)]), tmp_path / "x")
    with pytest.raises(InputError, match="no gap to align"):
        run_eval(EvalConfig(run=str(run), set=str(set_path), input="text", aligners=[str(good)]), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_shapes_world_sets_get_attribute_figures(run_and_set, tmp_path):
    from gaptools.world import WorldParams, generate_world, load_captions, load_scenes, score_captions

    world = tmp_path / "world"
    generate_world(world, WorldParams(n_images=6, image_size=32, captions_per_image=3))
    entries = load_captions(world)
    captions = [s["raw"] for e in entries for s in e["sentences"]]
    rng = np.random.default_rng(0)
    wset = EmbeddingSet(image=rng.normal(size=(6, DIM)), text=rng.normal(size=(len(captions), DIM)),
                        text_image=np.repeat(np.arange(6), 3), image_id=np.array([e["filename"] for e in entries]),
                        caption=np.array(captions),
                        meta={"dataset": "shapes-world", "annotations": str(world / "captions.json")})
    path = save_set(wset, tmp_path / "world.npz")
    doc = run_eval(EvalConfig(run=str(run_and_set[0]), set=str(path)), tmp_path / "ev")
    metrics = doc["configurations"][0]["metrics"]
    expected = score_captions(load_scenes(world), json.loads((tmp_path / "ev" / "predictions.json").read_text()))
    assert metrics["world_exact_scene"] == pytest.approx(100 * expected["exact_scene"])
    assert {"world_colour_f1", "world_shape_f1", "world_size_f1", "world_position_f1", "world_object_f1"} <= set(metrics)


def test_bad_input_is_refused_before_writing(run_and_set, tmp_path):
    run, set_path, _ = run_and_set
    out = tmp_path / "never"
    with pytest.raises(InputError, match=r"lambda must be in \[0, 1\]"):
        EvalConfig(run=str(run), set=str(set_path), mixup=[0, 1.5])
    with pytest.raises(InputError, match="--mixup mixes each image"):
        EvalConfig(run=str(run), set=str(set_path), mixup=[0.5], input="text")
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(InputError, match="no finished model"):
        run_eval(EvalConfig(run=str(tmp_path / "unfinished"), set=str(set_path)), out)
    wrong_dim = save_set(planted_set(dim=8), tmp_path / "d8.npz")
    with pytest.raises(InputError, match="dimension 8 but the run .* was trained on 16"):
        run_eval(EvalConfig(run=str(run), set=str(wrong_dim)), out)
    no_captions = save_set(planted_set().replace(caption=None), tmp_path / "nocap.npz")
    with pytest.raises(InputError, match="no caption strings"):
        run_eval(EvalConfig(run=str(run), set=str(no_captions)), out)
    assert not out.exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(InputError, match="is not empty"):
        run_eval(EvalConfig(run=str(run), set=str(set_path)), tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep me"
