"""Leave-one-out references on a hand-made case: the input caption is never a reference, and a
captioner that copies its input gets no credit for it; images left without references are reported."""

import json

import numpy as np
import pytest

import gaptools.caption.checkpoint
import gaptools.caption.eval_run
from gaptools.caption.bootstrap import load_image_stats
from gaptools.caption.eval_run import ALL, LEAVE_ONE_OUT, EvalConfig, eval_data, run_eval, scoring_references
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, save_set

DIM = 8
CAPTIONS_PER_IMAGE = (3, 3, 3, 3, 1)  # the last image has one caption: leave-one-out leaves it none


def disjoint_set():
    """Five images; every caption has words of its own (no word is shared by two captions)."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(len(CAPTIONS_PER_IMAGE)), CAPTIONS_PER_IMAGE)
    captions = [" ".join(f"w{row}x{j}" for j in range(5)) for row in range(len(groups))]
    return EmbeddingSet(image=rng.normal(size=(len(CAPTIONS_PER_IMAGE), DIM)), text=rng.normal(size=(len(groups), DIM)),
                        text_image=groups, image_id=np.array([f"im{i}" for i in range(len(CAPTIONS_PER_IMAGE))]),
                        caption=np.array(captions), meta={"dataset": "planted"})


@pytest.fixture
def copying_captioner(monkeypatch):
    """A stand-in run whose 'caption' of an input is the caption whose embedding is nearest to it:
    fed a caption's own embedding, it returns that caption word for word."""
    eset = disjoint_set()

    class Decoder:  # the positions check of a real run: this stand-in has room for any length
        def fit_tokens(self, n_tokens, **_):
            return n_tokens

    monkeypatch.setattr(gaptools.caption.checkpoint, "load_run",
                        lambda run, device: (Decoder(), None, {"clip_dim": DIM, "source": "text", "normalize": False}))

    def copy(model, tokenizer, x, **_):
        nearest = ((x[:, None, :] - eset.text[None]) ** 2).sum(-1).argmin(axis=1)
        return [str(eset.caption[j]) for j in nearest]

    monkeypatch.setattr(gaptools.caption.eval_run, "caption_inputs", copy)
    return eset


def test_the_input_caption_is_not_a_reference():
    eset = disjoint_set()
    data = eval_data(eset, seed=4)
    loo = scoring_references(data, LEAVE_ONE_OUT)
    for key, rows, chosen in zip(data.keys, data.caption_rows, data.chosen):
        assert str(eset.caption[chosen]) not in loo[key]
        assert sorted(loo[key] + [str(eset.caption[chosen])]) == sorted(data.references[key])
        assert len(loo[key]) == len(rows) - 1
    assert scoring_references(data, ALL) == data.references


def test_a_copying_captioner_gets_no_credit(copying_captioner, tmp_path):
    set_path = save_set(copying_captioner, tmp_path / "set.npz")
    config = dict(run=str(tmp_path), set=str(set_path), input="text", seed=1, bootstrap=50)
    inflated = run_eval(EvalConfig(**config, references="all"), tmp_path / "all")["configurations"][0]
    assert inflated["references"] == "all" and inflated["n_scored"] == 5
    for key in ("Bleu_1", "Bleu_4", "ROUGE_L"):
        assert inflated["metrics"][key] == pytest.approx(100.0)  # it scores against itself

    doc = run_eval(EvalConfig(**config), tmp_path / "loo")  # the default: auto -> leave-one-out for text input
    (entry,) = doc["configurations"]
    assert entry["references"] == "leave-one-out"
    for key in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "caption_average"):
        assert entry["metrics"][key] == pytest.approx(0.0, abs=1e-6), key
    # the one-caption image is reported, not dropped: its prediction is written, it is not scored
    assert entry["n_scored"] == 4 and entry["unscored"] == ["im4"]
    assert entry["reference_counts"] == {"0": 1, "2": 4}
    assert len(json.loads((tmp_path / "loo" / "predictions.json").read_text())) == 5
    stats = load_image_stats(tmp_path / "loo" / entry["image_stats"])
    assert stats.ids.tolist() == ["im0", "im1", "im2", "im3"]
    assert set(entry["ci95"]) == set(entry["metrics"]) and entry["caption_average_of"] == "mean of 7 (no SPICE)"
    config_json = json.loads((tmp_path / "loo" / "config.json").read_text())
    assert config_json["caption_of_image"] == eval_data(copying_captioner, seed=1).chosen.tolist()


def test_references_by_configuration(copying_captioner, tmp_path):
    set_path = save_set(copying_captioner, tmp_path / "set.npz")
    mix = EvalConfig(run=str(tmp_path), set=str(set_path), mixup=[0, 0.5, 1]).configurations()
    assert [c["references"] for c in mix] == ["leave-one-out"] * 3  # one protocol per sweep, λ = 0 included
    assert [c["input"] for c in mix] == ["image", "mixup", "text"]  # each input named for what it is
    assert [c["name"] for c in mix] == ["mixup-0", "mixup-0.5", "mixup-1"] and {c["normalize"] for c in mix} == {False}
    ours = EvalConfig(run="r", set="s", mixup=[0, 1], mixup_rule="renormalised").configurations()
    assert [c["name"] for c in ours] == ["mixup-0-renormalised", "mixup-1-renormalised"]
    assert {c["normalize"] for c in ours} == {None}  # the run's own normalisation
    assert [c["references"] for c in EvalConfig(run="r", set="s", mixup=[0]).configurations()] == ["all"]
    assert [c["references"] for c in EvalConfig(run="r", set="s").configurations()] == ["all"]
    forced = EvalConfig(run="r", set="s", references="leave-one-out").configurations()
    assert [c["references"] for c in forced] == ["leave-one-out"]
    doc = run_eval(EvalConfig(run=str(tmp_path), set=str(set_path), references="leave-one-out", bootstrap=0),
                   tmp_path / "image")
    (entry,) = doc["configurations"]
    assert entry["ci95"] is None and entry["unscored"] == ["im4"]
    with pytest.raises(InputError, match="unknown --references"):
        EvalConfig(run="r", set="s", references="some")
    for bad in (-1, 10**9):
        with pytest.raises(InputError, match="--bootstrap must be 0"):
            EvalConfig(run="r", set="s", bootstrap=bad)


def test_one_caption_per_image_cannot_be_scored_leave_one_out(copying_captioner, tmp_path):
    single = copying_captioner.replace(text=copying_captioner.text[[0, 3, 6, 9, 12]], text_image=np.arange(5),
                                       caption=copying_captioner.caption[[0, 3, 6, 9, 12]])
    set_path = save_set(single, tmp_path / "single.npz")
    with pytest.raises(InputError, match="every image has one caption"):
        run_eval(EvalConfig(run=str(tmp_path), set=str(set_path), input="text"), tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_the_papers_mixup_is_fed_as_written_and_ours_renormalised():
    """λ x_t + (1−λ) x_i, each end normalised as the run would: shorter than 1 at λ = 0.5; our reading: unit norm."""
    from gaptools.caption.eval_run import raw_inputs

    data = eval_data(disjoint_set(), seed=0)
    paper, ours = (EvalConfig(run="r", set="s", mixup=[0, 0.5, 1], mixup_rule=rule).configurations()
                   for rule in ("paper", "renormalised"))
    norms = [np.linalg.norm(raw_inputs(data, c, "text", normalize_ends=True), axis=1) for c in paper]
    assert np.allclose(norms[0], 1, atol=1e-5) and np.allclose(norms[2], 1, atol=1e-5)
    assert (norms[1] < 0.95).all()  # random 8-d pairs: cosine near 0, so norm near 0.71
    assert np.allclose(np.linalg.norm(raw_inputs(data, ours[1], "text"), axis=1), 1, atol=1e-5)
