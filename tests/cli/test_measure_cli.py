import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gaptools.cli.main import app
from gaptools.io import save_set
from gaptools.measure import METRIC_KEYS
from gaptools.synthetic import planted_gap

runner = CliRunner()


@pytest.fixture
def set_path(tmp_path):
    return save_set(planted_gap(300, 16, shift=0.6, captions_per_image=2), tmp_path / "s.npz")


def test_measure_writes_json_with_fixed_keys(tmp_path, set_path):
    out = tmp_path / "gap.json"
    result = runner.invoke(app, ["measure", str(set_path), "--json", str(out), "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    assert "L2-normalised" in result.output
    doc = json.loads(out.read_text())
    assert doc["kind"] == "gaptools.measure" and doc["version"] == 1
    metrics = doc["sets"][0]["metrics"]
    assert list(metrics) == list(METRIC_KEYS)
    assert set(metrics["centroid_gap"]) >= {"value", "ci95"} and len(metrics["centroid_gap"]["ci95"]) == 2


def test_measure_several_sets_and_npy_layouts(tmp_path, set_path):
    s = planted_gap(100, 8)
    np.save(tmp_path / "i.npy", s.image)
    np.save(tmp_path / "t.npy", s.text)
    np.save(tmp_path / "stack.npy", np.stack([s.image, s.text]))
    out = tmp_path / "all.json"
    result = runner.invoke(app, ["measure", str(set_path), str(tmp_path / "stack.npy"), "--image",
                                 str(tmp_path / "i.npy"), "--text", str(tmp_path / "t.npy"),
                                 "--json", str(out), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    sets = json.loads(out.read_text())["sets"]
    assert len(sets) == 3
    assert sets[1]["metrics"]["centroid_gap"]["value"] == pytest.approx(sets[2]["metrics"]["centroid_gap"]["value"])


def test_measure_without_arguments_uses_the_shipped_demo():
    result = runner.invoke(app, ["measure", "--bootstrap", "10"])
    assert result.exit_code == 0, result.output
    assert "demo" in result.output and "centroid_gap" in result.output


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.npz", "no such file"),
        (lambda p: (p / "bad.npz").write_bytes(b"PK\x03\x04garbage") and p / "bad.npz", "corrupt or truncated"),
        (lambda p: np.save(p / "x3.npy", np.ones((3, 4, 2))) or p / "x3.npy", "(2, N, D) stack"),
        (lambda p: (p / "a.txt").write_text("x") and p / "a.txt", "unsupported extension"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, make, message):
    path = make(tmp_path)
    out = tmp_path / "never.json"
    result = runner.invoke(app, ["measure", str(path), "--json", str(out)])
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_image_without_text_is_refused(tmp_path):
    np.save(tmp_path / "i.npy", np.ones((3, 2)))
    result = runner.invoke(app, ["measure", "--image", str(tmp_path / "i.npy")])
    assert result.exit_code == 2 and "--image and --text go together" in result.output


def test_debug_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "measure", str(tmp_path / "missing.npz")])
    assert result.exit_code != 0 and result.exception is not None
    assert "no such file" in str(result.exception)


def test_help_and_usage_errors_keep_typer_exit_codes():
    result = runner.invoke(app, ["measure", "--help"])
    assert result.exit_code == 0 and "Unexpected error" not in result.output
    result = runner.invoke(app, ["measure", "--no-such-flag"])
    assert result.exit_code == 2 and "Unexpected error" not in result.output


def test_mixup_one_is_the_caption_itself(tmp_path, set_path):
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["measure", str(set_path), "--mixup", "1", "--bootstrap", "0", "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["sets"][0]["metrics"]
    # each image now is one of its own captions: it retrieves that caption first
    assert metrics["recall@1_i2t"]["value"] == 1.0
    assert metrics["matched_cosine"]["value"] > 0.9
    bad = runner.invoke(app, ["measure", str(set_path), "--mixup", "1.5"])
    assert bad.exit_code == 2 and "1.5" in bad.output


def test_measure_runs_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from gaptools.cli.main import app; "
            "r = CliRunner().invoke(app, ['measure', '--bootstrap', '5']); "
            "print(r.exit_code, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stdout.split()
    assert out == ["0", "False"]


def test_dim_ablation_is_opt_in_and_written_to_the_json(tmp_path, set_path):
    out = tmp_path / "a.json"
    result = runner.invoke(app, ["measure", str(set_path), "--dim-ablation", "--bootstrap", "0", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Gap dimension ablation" in result.output
    ablation = json.loads(out.read_text())["sets"][0]["dim_ablation"]
    assert ablation["ks"] == [0, 1, 2, 4, 8]  # 16 of 16 dimensions would leave nothing
    assert len(ablation["top"]["recall@1_t2i"]) == len(ablation["random"]["centroid_gap"]) == 5
    plain = runner.invoke(app, ["measure", str(set_path), "--bootstrap", "0"])
    assert "Gap dimension ablation" not in plain.output
