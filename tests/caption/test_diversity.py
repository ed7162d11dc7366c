"""Caption diversity: planted repeats, the references as their own captions, empty captions, the corpus reader."""

import json

import numpy as np
import pytest

from gaptools.caption.evaluate import (
    COLLAPSE_FRACTION,
    collapse_warning,
    diversity,
    plain_tokens,
    read_caption_corpus,
    read_references,
    score_with_diversity,
    score_with_intervals,
    token_set,
    tokenize,
)
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, save_set

REFERENCES = {
    "1": ["A red square above a blue circle.", "two shapes on a white ground"],
    "2": ["a small green triangle on the left", "one green shape"],
    "3": ["three yellow stars in a row", "Stars!"],
    "4": ["a pink heart", "a heart that is pink"],
}


@pytest.mark.parametrize("n", [6, 500])
def test_one_caption_repeated_n_times_is_one_nth_distinct_and_warned(n):
    d = diversity(["a dog on the grass"] * n)
    assert d["distinct_captions"] == 1 and d["distinct_fraction"] == pytest.approx(1 / n)
    assert d["vocabulary"] == 5 and d["mean_length"] == 5.0 and d["novel_fraction"] is None
    assert d["mode_collapse"] is True
    assert collapse_warning("image", d) == f"image: mode collapse: 1 distinct caption for {n} images"


def test_the_threshold_is_one_fifth():
    five_of_25 = diversity([f"caption {i % 5}" for i in range(25)])
    assert five_of_25["distinct_fraction"] == COLLAPSE_FRACTION == 0.2 and not five_of_25["mode_collapse"]
    four_of_25 = diversity([f"caption {i % 4}" for i in range(25)])
    assert four_of_25["mode_collapse"] and "4 distinct captions for 25 images" in collapse_warning("x", four_of_25)
    assert collapse_warning("x", five_of_25) is None


def test_the_references_are_all_distinct_and_not_novel_against_themselves():
    predictions = {k: refs[0] for k, refs in REFERENCES.items()}
    train = token_set([c for refs in REFERENCES.values() for c in refs] * 2)  # repeats are tokenised once
    assert train == set(tokenize([c for refs in REFERENCES.values() for c in refs])) and len(train) == 8
    scores, d = score_with_diversity(predictions, REFERENCES, train_tokens=train)
    assert scores["Bleu_1"] == pytest.approx(100.0)
    assert d["distinct_fraction"] == 1.0 and d["novel_fraction"] == 0.0 and not d["mode_collapse"]
    # PTB tokens: "A red square above a blue circle." is 7 tokens, "Stars!" is 1
    assert d["mean_length"] == (7 + 7 + 6 + 3) / 4
    assert d["reference_mean_length"] == (7 + 6 + 7 + 3 + 6 + 1 + 3 + 5) / 8
    assert d["vocabulary"] == len({t for k in "1234" for t in tokenize([REFERENCES[k][0]])[0].split()})
    _, unknown = score_with_diversity(predictions, REFERENCES, train_tokens=set(tokenize(["a dog"])))
    assert unknown["novel_fraction"] == 1.0


def test_case_and_punctuation_do_not_make_a_caption_distinct():
    _, d = score_with_diversity({"1": "A pink heart.", "2": "a pink heart", "3": "A PINK HEART!", "4": "a heart"},
                                REFERENCES, train_tokens=set(tokenize(["A pink heart"])))
    assert d["distinct_captions"] == 2 and d["novel_fraction"] == 0.25
    assert plain_tokens("A PINK heart, it's red!") == "a pink heart it's red"
    assert len({plain_tokens(c) for c in ("A pink heart.", "a pink heart", "A PINK HEART!")}) == 1


def test_empty_predictions_get_defined_figures():
    d = diversity([], references=[], train_tokens=set())
    assert d == {"n_captions": 0, "distinct_captions": 0, "distinct_fraction": 0.0, "vocabulary": 0,
                 "mean_length": 0.0, "reference_mean_length": 0.0, "novel_fraction": 0.0, "mode_collapse": False}
    fields, _ = score_with_intervals({k: "" for k in REFERENCES}, REFERENCES, n_boot=10, seed=0)
    d = fields["diversity"]
    assert d["distinct_captions"] == 1 and d["distinct_fraction"] == 0.25 and d["mean_length"] == 0.0
    assert d["vocabulary"] == 0
    assert np.isfinite(list(fields["metrics"].values())).all()


def test_unscored_predictions_still_count_as_generated():
    references = {**REFERENCES, "5": []}
    fields, _ = score_with_intervals({"1": "a dog", "5": "a cat"}, references, n_boot=0, seed=0)
    assert fields["unscored"] == ["5"] and fields["n_scored"] == 1
    assert fields["diversity"]["n_captions"] == 2 and fields["diversity"]["distinct_captions"] == 2
    with pytest.raises(InputError, match="no predicted image has references"):
        score_with_intervals({"5": "a cat"}, references, n_boot=0, seed=0)


def test_caption_corpus_from_references_a_set_or_lines(tmp_path):
    (tmp_path / "refs.json").write_text(json.dumps(REFERENCES))
    assert read_caption_corpus(tmp_path / "refs.json") == [c for refs in REFERENCES.values() for c in refs]
    assert read_references(tmp_path / "refs.json") == REFERENCES
    (tmp_path / "train.txt").write_text("a dog\n\n  a cat  \n")
    assert read_caption_corpus(tmp_path / "train.txt") == ["a dog", "a cat"]
    rng = np.random.default_rng(0)
    eset = EmbeddingSet(image=rng.normal(size=(2, 4)), text=rng.normal(size=(3, 4)), text_image=np.array([0, 0, 1]),
                        caption=np.array(["x", "y", "z"]))
    assert read_caption_corpus(save_set(eset, tmp_path / "s.npz")) == ["x", "y", "z"]
    with pytest.raises(InputError, match="has no caption strings"):
        read_caption_corpus(save_set(eset.replace(caption=None), tmp_path / "bare.npz"))
    with pytest.raises(InputError, match="no such file"):
        read_caption_corpus(tmp_path / "missing.txt")
