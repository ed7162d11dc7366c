"""`gaptools align fit/apply/compare` through the real command line (CliRunner)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gaptools.align.compare import HEADLINE_METRICS
from gaptools.cli.main import app
from gaptools.io import load_set, save_set
from gaptools.metrics import centroid_gap
from gaptools.synthetic import planted_gap

runner = CliRunner()


@pytest.fixture
def sets(tmp_path):
    train = save_set(planted_gap(300, 16, shift=0.6, captions_per_image=2), tmp_path / "train.npz")
    test = save_set(planted_gap(150, 16, shift=0.6, captions_per_image=2, seed=1), tmp_path / "test.npz")
    return train, test


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_fit_then_apply_shrinks_the_held_out_gap(tmp_path, sets):
    train, test = sets
    aligner, out = tmp_path / "mean.aligner", tmp_path / "aligned.npz"
    result = invoke("align", "fit", "--method", "mean", train, "-o", aligner)
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and aligner.exists()
    result = invoke("align", "apply", aligner, test, "-o", out)
    assert result.exit_code == 0, result.output
    before, after = load_set(test), load_set(out)
    assert centroid_gap(after.image, after.text) < 0.25 * centroid_gap(before.image, before.text)
    np.testing.assert_allclose(after.text, before.text, atol=1e-6)  # left in place (renormalised)
    np.testing.assert_array_equal(after.text_image, before.text_image)
    assert after.meta["aligned"]["method"] == "mean" and after.meta["aligned"]["direction"] == "image-to-text"


def test_fit_options_reach_the_estimator_and_direction_is_saved(tmp_path, sets):
    train, test = sets
    aligner = tmp_path / "ot.aligner"
    result = invoke("align", "fit", "-m", "ot-sinkhorn", train, "-o", aligner, "--max-fit-points", "100",
                    "--seed", "3", "-p", "reg=0.1", "--direction", "text-to-image", "--no-renormalize")
    assert result.exit_code == 0, result.output
    out = tmp_path / "t2i.npz"
    assert invoke("align", "apply", aligner, test, "-o", out).exit_code == 0
    aligned = load_set(out)
    assert aligned.meta["aligned"]["direction"] == "text-to-image"
    assert aligned.meta["aligned"]["params"] == {"reg": 0.1, "max_iter": 1000, "tol": 1e-6, "max_fit_points": 100,
                                                 "random_state": 3, "renormalize": False}
    np.testing.assert_array_equal(aligned.image, load_set(test).image)  # no renormalisation asked


def test_apply_a_text_only_set_toward_images(tmp_path, sets):
    train, test = sets
    full = load_set(test)
    text_only = save_set(full.replace(image=np.zeros((0, 16), np.float32)), tmp_path / "text_only.npz")
    aligner, out = tmp_path / "c.aligner", tmp_path / "mapped.npz"
    assert invoke("align", "fit", "-m", "coral", train, "-o", aligner).exit_code == 0
    result = invoke("align", "apply", aligner, text_only, "--direction", "text-to-image", "-o", out)
    assert result.exit_code == 0, result.output
    mapped = load_set(out)
    assert mapped.n_image == 0 and mapped.text.shape == full.text.shape
    assert centroid_gap(full.image, mapped.text) < 0.25 * centroid_gap(full.image, full.text)


def test_apply_with_mixup_records_lambda_seed_and_captions(tmp_path, sets):
    train, test = sets
    aligner, out = tmp_path / "m.aligner", tmp_path / "mixed.npz"
    invoke("align", "fit", train, "-o", aligner)
    result = invoke("align", "apply", aligner, test, "--mixup", "0.5", "--mixup-seed", "4", "-o", out)
    assert result.exit_code == 0, result.output
    mixed = load_set(out)
    record = mixed.meta["mixup"]
    assert record["lambda"] == 0.5 and record["seed"] == 4 and len(record["caption_of_image"]) == 150
    assert mixed.meta["aligned"]["method"] == "mean"
    one = invoke("align", "apply", aligner, test, "--mixup", "1", "-o", tmp_path / "one.npz")
    assert one.exit_code == 0
    captions = load_set(tmp_path / "one.npz")
    chosen = captions.meta["mixup"]["caption_of_image"]
    np.testing.assert_allclose(captions.image, captions.text[chosen], atol=1e-3)  # λ=1: the caption


def test_compare_writes_json_with_the_agreed_keys(tmp_path, sets):
    train, test = sets
    out = tmp_path / "compare.json"
    result = invoke("align", "compare", train, test, "--methods", "mean,procrustes", "--methods", "ot-exact",
                    "--json", out, "--max-points", "200")
    assert result.exit_code == 0, result.output
    assert "│ procrustes" in result.output and "W2" in result.output
    doc = json.loads(out.read_text())
    assert doc["kind"] == "gaptools.align.compare" and doc["version"] == 1
    assert doc["train"] == str(train) and doc["test"] == str(test) and doc["direction"] == "image-to-text"
    assert list(doc["methods"]) == ["mean", "procrustes", "ot-exact"]
    for name, metrics in doc["methods"].items():
        assert set(HEADLINE_METRICS) | {"fit_seconds", "apply_seconds"} <= set(metrics)
        assert metrics["centroid_gap"] < 0.25 * doc["baseline"]["centroid_gap"], name
    assert set(HEADLINE_METRICS) <= set(doc["baseline"])
    assert doc["methods"]["ot-exact"]["params"]["random_state"] == 0


def test_compare_with_bootstrap_adds_intervals(tmp_path, sets):
    train, test = sets
    out = tmp_path / "ci.json"
    result = invoke("align", "compare", train, test, "--methods", "center", "--bootstrap", "20", "--json", out)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    lo, hi = doc["methods"]["center"]["ci95"]["centroid_gap"]
    assert lo <= doc["methods"]["center"]["centroid_gap"] <= hi


@pytest.mark.parametrize(
    "args, message",
    [
        (lambda p, tr, te: ["fit", "-m", "twist", tr, "-o", p / "out.aligner"], "unknown alignment method 'twist'"),
        (lambda p, tr, te: ["fit", "-m", "coral", tr, "-p", "gamma=2", "-o", p / "out.aligner"], "no parameter(s) gamma"),
        (lambda p, tr, te: ["fit", "-m", "coral", tr, "-p", "reg", "-o", p / "out.aligner"], "not of the form key=value"),
        (lambda p, tr, te: ["fit", p / "absent.npz", "-o", p / "out.aligner"], "no such file"),
        (lambda p, tr, te: ["fit", p / "text_only.npz", "-o", p / "out.aligner"], "needs both image and text"),
        (lambda p, tr, te: ["apply", p / "broken.aligner", te, "-o", p / "out.npz"], "corrupt or truncated aligner"),
        (lambda p, tr, te: ["apply", p / "m.aligner", p / "dim8.npz", "-o", p / "out.npz"], "fitted on 16-dimensional"),
        (lambda p, tr, te: ["apply", p / "m.aligner", te, "--mixup", "1.5", "-o", p / "out.npz"], "lambda must be in [0, 1]"),
        (lambda p, tr, te: ["compare", tr, p / "dim8.npz", "--json", p / "out.json"], "has 16 dimensions but"),
        (lambda p, tr, te: ["compare", tr, te, "--methods", "mean,nope", "--json", p / "out.json"], "valid methods: mean"),
        (lambda p, tr, te: ["compare", tr, te, "--methods", "mean", "--max-fit-points", "9", "--json", p / "out.json"],
         "no selected method takes parameter(s) max_fit_points"),
    ],
)
def test_bad_input_is_one_red_line_exit_2_and_nothing_written(tmp_path, sets, args, message):
    train, test = sets
    invoke("align", "fit", train, "-o", tmp_path / "m.aligner")
    (tmp_path / "broken.aligner").write_bytes((tmp_path / "m.aligner").read_bytes()[:200])
    save_set(planted_gap(20, 8), tmp_path / "dim8.npz")
    save_set(load_set(test).replace(image=np.zeros((0, 16), np.float32)), tmp_path / "text_only.npz")
    result = invoke("align", *args(tmp_path, train, test))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())
