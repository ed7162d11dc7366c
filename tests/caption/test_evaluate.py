"""pycocoevalcap scoring: a published golden log, planted exact/disjoint captions, file formats."""

import json
import re

import pytest

from gaptools.caption.evaluate import METRIC_KEYS, read_predictions, read_references, score_captions
from gaptools.errors import GapToolsError, InputError


@pytest.mark.slow
def test_reproduces_the_published_viecap_scores(shared_data, tmp_path):
    folder = shared_data / "flickr30k_karpathy_test"
    generated = json.loads((folder / "generated_by_viecap.json").read_text())
    predictions_file = tmp_path / "predictions.json"
    predictions_file.write_text(json.dumps([{"image_id": e["image_name"], "caption": e["prediction"]} for e in generated]))
    log = (folder / "viecap_scores.log").read_text().splitlines()
    expected = {}  # the last printed value of each metric, e.g. "Bleu_1: 0.627"
    for line in log:
        match = re.fullmatch(r"(\w+): ([0-9.]+)", line.strip())
        if match and match[1] in METRIC_KEYS:
            expected[match[1]] = match[2]
    assert set(expected) == set(METRIC_KEYS)

    scores = score_captions(read_predictions(predictions_file), read_references(folder / "references.json"))

    assert list(scores) == list(METRIC_KEYS)
    for key, printed in expected.items():
        decimals = len(printed.split(".")[1])
        assert f"{scores[key] / 100:.{decimals}f}" == printed, (key, scores[key])


def test_exact_and_disjoint_captions_score_100_and_0():
    references = {
        "1": ["a red square above a blue circle", "two shapes on a white ground"],
        "2": ["a small green triangle on the left", "one green shape"],
        "3": ["three yellow stars in a row", "stars"],
    }
    exact = {k: v[0].upper() + "." for k, v in references.items()}  # PTB lower-cases, drops punctuation
    scores = score_captions(exact, references)
    for key in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L"):
        assert scores[key] == pytest.approx(100.0)
    assert 90 < scores["METEOR"] <= 100
    disjoint = {k: "zebra umbrella piano" for k in references}
    scores = score_captions(disjoint, references)
    for key in ("Bleu_1", "ROUGE_L", "CIDEr", "METEOR"):
        assert scores[key] == pytest.approx(0.0, abs=1e-6)


def test_references_from_a_coco_annotation_file(tmp_path):
    coco = {"images": [{"id": 7}, {"id": 9}],
            "annotations": [{"id": 1, "image_id": 7, "caption": "a cat"}, {"id": 2, "image_id": 7, "caption": "a kitten"},
                            {"id": 3, "image_id": 9, "caption": "a dog"}]}
    path = tmp_path / "captions_val.json"
    path.write_text(json.dumps(coco))
    assert read_references(path) == {"7": ["a cat", "a kitten"], "9": ["a dog"]}


def test_predictions_without_references_are_refused():
    with pytest.raises(InputError, match=r"1 of 2 predicted image id\(s\) have no references, first '5'"):
        score_captions({"1": "a cat", "5": "a dog"}, {"1": ["a cat"]}, source="p.json")


@pytest.mark.parametrize("content, message", [
    ('{"image_id": 1}', "must be a JSON list"),
    ('[{"image_id": 1}]', "entry 0 is not an object"),
    ('[{"image_id": 1, "caption": "a"}, {"image_id": "1", "caption": "b"}]', "more than one caption"),
    ("[", "not valid JSON"),
])
def test_malformed_predictions(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_predictions(path)


def test_java_missing_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without java
    with pytest.raises(GapToolsError, match="needs Java") as info:
        score_captions({"1": "a cat"}, {"1": ["a cat"]})
    assert "install a Java runtime" in str(info.value)


def test_spice_without_corenlp_says_what_it_needs():
    from pathlib import Path

    from pycocoevalcap.spice import get_stanford_models

    jar = Path(get_stanford_models.SPICEDIR) / get_stanford_models.SPICELIB / f"{get_stanford_models.JAR}.jar"
    if jar.exists():
        pytest.skip("Stanford CoreNLP is installed here; SPICE would run")
    with pytest.raises(GapToolsError, match="SPICE needs Stanford CoreNLP 3.6.0"):
        score_captions({"1": "a cat"}, {"1": ["a cat"]}, spice=True)
