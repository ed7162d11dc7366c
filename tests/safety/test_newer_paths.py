"""The newer paths under the safety rules (issue 22): streamed folders, `align apply` on folders, the world.

Each case lost data, ended in "Unexpected error" (exit 1) or ran without end before:
a ``--json`` written over a shard of the folder it measures or over a file of the world it
scores; ``align apply`` resuming into a folder aligned from another input and calling it done;
two ``align apply`` into one folder at once; ``world generate`` sizes that exhaust memory or
never finish; the README's ``bench/device.py`` command failing on a required ``--out``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("distributed")

from gaptools.cli.main import app  # noqa: E402
from gaptools.io import save_set  # noqa: E402
from gaptools.limits import ENV  # noqa: E402
from gaptools.outputs import LOCK_FILE, run_lock  # noqa: E402
from gaptools.stream.align import MANIFEST  # noqa: E402
from gaptools.stream.shards import write_clip_shard  # noqa: E402
from gaptools.synthetic import planted_gap  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--bootstrap", "0", "--max-points", "20", "--max-gallery", "20"]


def clip_folder(root: Path, *, seed: int = 0, shards: int = 3, rows: int = 8) -> Path:
    """A clip-retrieval folder: ``shards`` shards of ``rows`` pairs (8-d), each with its metadata."""
    s = planted_gap(shards * rows, 8, seed=seed)
    for k in range(shards):
        part = slice(rows * k, rows * (k + 1))
        write_clip_shard(root, str(k), s.image[part], s.text[part],
                         metadata={"caption": [f"caption {seed} {i}" for i in range(rows)]})
    return root


def npz_folder(root: Path, *, seed: int = 0, shards: int = 2) -> Path:
    """A folder of ``a.npz``, ``b.npz``, ... sets (8-d, 6 images, 2 captions each)."""
    root.mkdir(parents=True)
    for k in range(shards):
        save_set(planted_gap(6, 8, seed=seed * 10 + k, captions_per_image=2), root / f"{'abc'[k]}.npz")
    return root


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def aligner(sweep, tmp_path):
    """A mean-shift aligner fitted on an 8-d set."""
    path = tmp_path / "mean.aligner"
    data = save_set(planted_gap(30, 8, seed=9), tmp_path / "train.npz")
    assert sweep.invoke(app, "align", "fit", data, "-o", path).exit_code == 0
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 12-image world (32 px) and a predictions file about it."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("world")
    result = CliRunner().invoke(app, ["world", "generate", "-o", str(root / "w"), "--images", "12",
                                      "--image-size", "32"])
    assert result.exit_code == 0, result.output
    (root / "preds.json").write_text(json.dumps([{"image_id": 0, "caption": "a red circle"}]))
    return root / "w", root / "preds.json"


# --- item 1: a file of a folder input is an input -------------------------------------------------------------


@pytest.mark.parametrize("member", ["img_emb/img_emb_0.npy", "text_emb/text_emb_2.npy", "metadata/metadata_1.parquet"])
def test_measure_json_never_replaces_a_file_of_the_clip_folder_it_reads(sweep, tmp_path, member):
    folder = clip_folder(tmp_path / "laion")
    before = snapshot(folder)
    result = sweep.invoke(app, "measure", folder, "--json", folder / member, *FAST)
    sweep.refused(result, f"--json {folder / member}", "is a file of the input folder")
    assert "measuring" not in result.output  # refused before any work
    assert snapshot(folder) == before


@pytest.mark.parametrize("member", ["a.npz", "b.npz"])
def test_measure_json_never_replaces_a_set_of_the_npz_folder_it_reads(sweep, tmp_path, member):
    folder = npz_folder(tmp_path / "sets")
    before = snapshot(folder)
    sweep.refused(sweep.invoke(app, "measure", folder, "--json", folder / member, *FAST),
                  "is a file of the input folder")
    assert snapshot(folder) == before


def test_a_shard_that_is_a_symlink_makes_its_target_an_input_too(sweep, tmp_path):
    folder = clip_folder(tmp_path / "laion", shards=1)
    real = tmp_path / "elsewhere.npy"
    (folder / "img_emb" / "img_emb_0.npy").rename(real)
    (folder / "img_emb" / "img_emb_0.npy").symlink_to(real)
    before = real.read_bytes()
    sweep.refused(sweep.invoke(app, "measure", folder, "--json", real, *FAST),
                  f"is the file {folder / 'img_emb' / 'img_emb_0.npy'} of the input folder")
    assert real.read_bytes() == before


def test_a_new_file_beside_the_shards_is_still_allowed(sweep, tmp_path):
    folder = npz_folder(tmp_path / "sets")
    result = sweep.invoke(app, "measure", folder, "--json", folder / "gap.json", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "gap.json").read_text())["sets"][0]["path"] == "streaming"


# --- item 2: a file of the world it scores ---------------------------------------------------------------------


@pytest.mark.parametrize("member", ["captions.json", "scenes.json", "world.json", "images/000000.png",
                                    ".gaptools-output.json"])
def test_world_score_never_replaces_a_file_of_the_world(sweep, world, member):
    folder, preds = world
    before = snapshot(folder)
    sweep.refused(sweep.invoke(app, "world", "score", folder, preds, "--json", folder / member),
                  "is a file of the input folder")
    assert snapshot(folder) == before


def test_world_score_never_replaces_its_predictions(sweep, world):
    folder, preds = world
    before = preds.read_bytes()
    sweep.refused(sweep.invoke(app, "world", "score", folder, preds, "--json", preds), "is the input")
    assert preds.read_bytes() == before


# --- item 3: the resume manifest knows its input ----------------------------------------------------------------


@pytest.mark.parametrize("make", [clip_folder, npz_folder])
def test_apply_into_an_output_of_another_folder_is_refused_not_called_done(sweep, tmp_path, aligner, make):
    a, b = make(tmp_path / "A", seed=1), make(tmp_path / "B", seed=2)  # same shard names and shapes
    out = tmp_path / "out"
    assert sweep.invoke(app, "align", "apply", aligner, a, "-o", out).exit_code == 0
    before = snapshot(out)
    result = sweep.invoke(app, "align", "apply", aligner, b, "-o", out)
    sweep.refused(result, "holds shards aligned from another input folder", str(a.resolve()))
    assert "already done" not in result.output and snapshot(out) == before


def test_the_same_folder_through_a_symlink_resumes(sweep, tmp_path, aligner):
    folder = clip_folder(tmp_path / "A")
    (tmp_path / "link").symlink_to(folder)
    out = tmp_path / "out"
    assert sweep.invoke(app, "align", "apply", aligner, folder, "-o", out).exit_code == 0
    result = sweep.invoke(app, "align", "apply", aligner, tmp_path / "link", "-o", out)
    assert result.exit_code == 0 and "0 shard(s) written, 3 already done" in " ".join(result.output.split())


def test_a_shard_rewritten_in_place_is_aligned_again(sweep, tmp_path, aligner):
    folder, out = clip_folder(tmp_path / "A"), tmp_path / "out"
    assert sweep.invoke(app, "align", "apply", aligner, folder, "-o", out).exit_code == 0
    other = planted_gap(8, 8, seed=77)  # new rows, same name, shape and dtype: only the file's identity changed
    write_clip_shard(folder, "1", other.image, other.text, metadata={"caption": [f"new {i}" for i in range(8)]})
    result = sweep.invoke(app, "align", "apply", aligner, folder, "-o", out)
    assert result.exit_code == 0 and "1 shard(s) written, 2 already done" in " ".join(result.output.split())
    fresh = tmp_path / "fresh"
    assert sweep.invoke(app, "align", "apply", aligner, folder, "-o", fresh).exit_code == 0
    assert snapshot(out).keys() == snapshot(fresh).keys()
    for name, data in snapshot(fresh).items():
        if name != MANIFEST:
            assert snapshot(out)[name] == data, name


def test_a_manifest_that_does_not_record_its_input_is_refused(sweep, tmp_path, aligner):
    folder, out = clip_folder(tmp_path / "A"), tmp_path / "out"
    assert sweep.invoke(app, "align", "apply", aligner, folder, "-o", out).exit_code == 0
    doc = json.loads((out / MANIFEST).read_text())
    doc["version"] = 1  # what gaptools wrote before the input was recorded
    (out / MANIFEST).write_text(json.dumps(doc))
    before = snapshot(out)
    sweep.refused(sweep.invoke(app, "align", "apply", aligner, folder, "-o", out), "does not record which input")
    assert snapshot(out) == before


def test_a_manifest_nested_too_deeply_is_one_line(sweep, tmp_path, aligner):
    folder, out = clip_folder(tmp_path / "A"), tmp_path / "out"
    assert sweep.invoke(app, "align", "apply", aligner, folder, "-o", out).exit_code == 0
    (out / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    sweep.refused(sweep.invoke(app, "align", "apply", aligner, folder, "-o", out), "unreadable manifest")


# --- item 4: one writer per output folder -----------------------------------------------------------------------


def test_apply_into_a_folder_another_apply_is_writing_is_refused_leaving_its_files(sweep, tmp_path, aligner):
    folder, out = clip_folder(tmp_path / "A"), tmp_path / "out"
    assert sweep.invoke(app, "align", "apply", aligner, folder, "-o", out).exit_code == 0
    (out / "img_emb" / "img_emb_0.npy").unlink()  # the first run is rewriting shard 0 ...
    temporary = out / "img_emb" / ".img_emb_0.npy.k2x9.tmp"  # ... into its temporary file
    temporary.write_bytes(b"half a shard")
    with run_lock(out, command="gaptools align apply"):  # the first run holds the lock (flock: any other open)
        result = sweep.invoke(app, "align", "apply", aligner, folder, "-o", out)
        sweep.refused(result, "in use by", "gaptools align apply")
        assert temporary.read_bytes() == b"half a shard"  # the second run removed nothing of the first's
    assert not (out / LOCK_FILE).exists()
    result = sweep.invoke(app, "align", "apply", aligner, folder, "-o", out)  # once it is gone: resumes, cleans up
    assert result.exit_code == 0 and "1 shard(s) written, 2 already done" in " ".join(result.output.split())
    assert not temporary.exists() and not (out / LOCK_FILE).exists()


def test_apply_into_a_fresh_folder_being_locked_leaves_nothing_behind(sweep, tmp_path, aligner):
    folder, out = npz_folder(tmp_path / "sets"), tmp_path / "out"
    with run_lock(out):
        sweep.refused(sweep.invoke(app, "align", "apply", aligner, folder, "-o", out), "in use by")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    assert not out.exists()


# --- item 10: world sizes against the memory budget, before any work --------------------------------------------


@pytest.mark.parametrize("option, value, needle", [
    ("--image-size", 100_000, "drawing one 100000 x 100000 image needs 298.0 GiB"),
    ("--images", 100_000_000_000, "holding the captions and scenes of 100000000000 images"),
])
def test_world_generate_sizes_are_checked_against_the_budget_first(sweep, tmp_path, monkeypatch, option, value,
                                                                    needle):
    monkeypatch.setenv(ENV, "16G")
    result = sweep.invoke(app, "world", "generate", "-o", tmp_path / "w", option, value)
    sweep.refused(result, f"{option} {value}", needle, "more than the memory budget of 16.0 GiB", ENV)
    assert not (tmp_path / "w").exists() and list(tmp_path.iterdir()) == []


def test_a_world_within_the_budget_is_generated_and_one_beyond_it_is_not(sweep, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "1M")  # 10 KiB of records per image: 100 images fit, 103 do not
    sweep.refused(sweep.invoke(app, "world", "generate", "-o", tmp_path / "big", "--images", 103,
                               "--image-size", 32), "--images 103")
    result = sweep.invoke(app, "world", "generate", "-o", tmp_path / "ok", "--images", 100, "--image-size", 32)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "ok" / "images").iterdir())) == 100


# --- item 11: the README's bench/device.py command -----------------------------------------------------------------


def _device_module():
    spec = importlib.util.spec_from_file_location("bench_device", ROOT / "bench" / "device.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_device_out_defaults_to_a_folder_under_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    device = _device_module()
    assert device.parse_args(["--device", "cpu", "--quick"]).out == tmp_path / "out" / "device-quick"
    assert device.parse_args([]).out == tmp_path / "out" / "device"
    assert device.parse_args(["--out", "x"]).out == tmp_path / "x"  # absolute: its steps run in the repository


def test_the_readme_command_runs_without_out(tmp_path):
    """`python bench/device.py --device cpu --quick` as the README writes it (one step: the versions)."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "device.py"), "--device", "cpu", "--quick",
                           "--only", "versions"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "device-quick" / "device.json").read_text())
    assert report["steps"]["versions"]["status"] == "ok"
