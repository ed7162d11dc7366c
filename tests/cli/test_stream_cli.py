"""`gaptools measure FOLDER` and `gaptools align fit/apply` on folders: the streaming path through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("pyarrow")
pytest.importorskip("dask")
pytest.importorskip("distributed")

from gaptools.cli.main import app  # noqa: E402
from gaptools.io import save_set  # noqa: E402
from gaptools.measure import METRIC_KEYS  # noqa: E402
from gaptools.stream import engine  # noqa: E402
from gaptools.stream.shards import write_clip_shard  # noqa: E402
from gaptools.synthetic import planted_gap  # noqa: E402

runner = CliRunner()


def flat(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())

FAST = ["--bootstrap", "50", "--max-points", "200", "--max-gallery", "200"]


@pytest.fixture
def folder(tmp_path):
    s = planted_gap(600, 16, shift=0.6, seed=1)
    root = tmp_path / "laion"
    for k in range(3):
        rows = slice(200 * k, 200 * (k + 1))
        write_clip_shard(root, str(k), s.image[rows], s.text[rows], dtype=np.float16,
                         metadata={"caption": [f"c{i}" for i in range(200)]})
    return root


def test_measure_a_folder_prints_and_writes_the_measure_document(tmp_path, folder):
    out = tmp_path / "gap.json"
    single = save_set(planted_gap(100, 16, seed=2), tmp_path / "small.npz")
    result = runner.invoke(app, ["measure", str(folder), str(single), "--json", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert "3/3 shards" in flat(result) and "centroid_gap" in result.output and "Poisson" in result.output
    doc = json.loads(out.read_text())
    assert doc["kind"] == "gaptools.measure" and doc["version"] == 1
    streamed, in_memory = doc["sets"]  # in the order given
    assert streamed["path"] == "streaming" and in_memory["path"] == "in-memory"
    assert list(streamed["metrics"]) == list(in_memory["metrics"]) == list(METRIC_KEYS)
    assert streamed["n_image"] == 600 and streamed["streaming"]["shards"] == 3
    assert len(streamed["metrics"]["centroid_gap"]["ci95"]) == 2


def test_stream_flag_streams_one_set(tmp_path):
    path = save_set(planted_gap(300, 8, captions_per_image=2, seed=3), tmp_path / "s.npz")
    out = tmp_path / "gap.json"
    result = runner.invoke(app, ["measure", str(path), "--stream", "--json", str(out), *FAST])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())["sets"][0]
    assert doc["path"] == "streaming" and (doc["n_image"], doc["n_text"]) == (300, 600)


def test_measure_on_a_local_cluster_prints_the_dashboard(folder):
    result = runner.invoke(app, ["measure", str(folder), "--workers", "2", *FAST])
    assert result.exit_code == 0, result.output
    assert "local cluster of 2 worker processes" in result.output and "dashboard http" in result.output


def test_align_fit_and_apply_a_folder_resumably(tmp_path, folder):
    aligner = tmp_path / "p.aligner"
    result = runner.invoke(app, ["align", "fit", str(folder), "--method", "procrustes", "-o", str(aligner)])
    assert result.exit_code == 0, result.output
    assert "600 images, 600 captions" in flat(result)
    out = tmp_path / "aligned"
    first = runner.invoke(app, ["align", "apply", str(aligner), str(folder), "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert "3 shard(s) written" in flat(first)
    assert sorted(p.name for p in (out / "img_emb").iterdir()) == ["img_emb_0.npy", "img_emb_1.npy", "img_emb_2.npy"]
    again = runner.invoke(app, ["align", "apply", str(aligner), str(folder), "-o", str(out)])
    assert again.exit_code == 0 and "0 shard(s) written, 3 already done" in flat(again)
    measured = runner.invoke(app, ["measure", str(out), *FAST])  # the aligned folder streams too
    assert measured.exit_code == 0, measured.output


@pytest.mark.parametrize("args, message", [
    (["align", "fit", "{folder}", "--method", "ot-sinkhorn", "-o", "{tmp}/o.aligner"], "max_fit_points=10000"),
    (["measure", "{folder}", "--mixup", "0.5"], "not available on the streaming path"),
    (["measure", "{tmp}/s.npz", "--workers", "2"], "give a folder"),
    (["measure", "{folder}", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "give one of them"),
    (["align", "apply", "{tmp}/a.aligner", "{folder}", "-o", "{tmp}/out", "--mixup", "0.3"], "--mixup needs the rows"),
    (["align", "apply", "{tmp}/a.aligner", "{folder}", "-o", "{tmp}/out", "--overwrite"], "remove"),
])
def test_streaming_refusals_are_one_line(tmp_path, folder, args, message):
    save_set(planted_gap(20, 16), tmp_path / "s.npz")
    runner.invoke(app, ["align", "fit", str(tmp_path / "s.npz"), "-o", str(tmp_path / "a.aligner")])
    args = [a.format(folder=folder, tmp=tmp_path) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in flat(result) and "Traceback" not in result.output
    assert not (tmp_path / "o.aligner").exists() and not (tmp_path / "out").exists()


def test_a_bad_shard_writes_nothing(tmp_path, folder):
    (folder / "text_emb" / "text_emb_2.npy").write_bytes(b"\x93NUMPY broken")
    out = tmp_path / "gap.json"
    result = runner.invoke(app, ["measure", str(folder), "--json", str(out), *FAST])
    assert result.exit_code == 2 and "bad shard" in flat(result) and "text_emb_2.npy" in flat(result)
    assert not out.exists()


def test_a_folder_without_the_extra_names_it(monkeypatch, folder):
    real = engine.importlib.util.find_spec
    monkeypatch.setattr(engine.importlib.util, "find_spec", lambda name: None if name == "dask" else real(name))
    result = runner.invoke(app, ["measure", str(folder)])
    assert result.exit_code == 2
    assert "pip install 'gaptools[scale]'" in flat(result) and "Traceback" not in result.output
