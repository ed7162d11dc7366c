"""Output guard: no command overwrites its inputs, or a folder it did not write for the same kind of output.

Every case here lost data (or crashed after the work was done) before ``gaptools.outputs``.
"""

from __future__ import annotations

import json
import os

import pytest

from gaptools.cli.caption import app as caption_app
from gaptools.cli.main import app
from gaptools.errors import OutputError
from gaptools.outputs import EVAL, MARKER, REPORT, building_folder, check_output_folder, folder_kind


def _snapshot(path):
    return path.read_bytes()


# --- an output path that is an input --------------------------------------------------------------


def test_measure_json_onto_its_own_input_is_refused(sweep, planted):
    before = _snapshot(planted)
    sweep.refused(sweep.invoke(app, "measure", planted, "--json", planted, "--bootstrap", 0), "is the input")
    assert _snapshot(planted) == before


def test_compare_json_onto_an_input_is_refused(sweep, planted, tmp_path):
    before = _snapshot(planted)
    sweep.refused(sweep.invoke(app, "align", "compare", planted, planted, "--json", planted, "--methods", "mean"),
                    "--json", "is the input")
    assert _snapshot(planted) == before


def test_fit_output_must_end_in_aligner_and_never_be_the_training_set(sweep, planted, tmp_path):
    before = _snapshot(planted)
    sweep.refused(sweep.invoke(app, "align", "fit", planted, "-o", planted), "ending in .aligner")
    assert _snapshot(planted) == before
    result = sweep.invoke(app, "align", "fit", planted, "-o", tmp_path / "mean.aligner")
    assert result.exit_code == 0, result.output


def test_apply_output_onto_the_set_or_a_symlink_to_it_is_refused(sweep, planted, tmp_path):
    aligner = tmp_path / "mean.aligner"
    assert sweep.invoke(app, "align", "fit", planted, "-o", aligner).exit_code == 0
    before = _snapshot(planted)
    sweep.refused(sweep.invoke(app, "align", "apply", aligner, planted, "-o", planted), "is the input")
    link = tmp_path / "link.npz"
    link.symlink_to(planted)
    sweep.refused(sweep.invoke(app, "align", "apply", aligner, planted, "-o", link), "is the input")
    assert _snapshot(planted) == before


def test_json_pointing_at_a_folder_is_refused_before_any_work(sweep, planted, tmp_path):
    sweep.refused(sweep.invoke(app, "measure", planted, "--json", tmp_path), "is a folder")


def test_unwritable_output_is_found_before_the_work(sweep, planted, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    result = sweep.invoke(app, "measure", planted, "--json", blocker / "gap.json")
    sweep.refused(result, "not a folder")
    assert "Modality gap" not in result.output  # refused before measuring, not after


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_found_before_the_work(sweep, planted, tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        sweep.refused(sweep.invoke(app, "measure", planted, "--json", locked / "gap.json"), "cannot write")
    finally:
        locked.chmod(0o700)


# --- --overwrite replaces only a folder gaptools wrote for the same kind ------------------------------


def test_eval_overwrite_never_removes_a_folder_of_user_files(sweep, caption_files, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    result = sweep.invoke(caption_app, "eval", caption_files["run"], caption_files["set"], "-o", mine, "--overwrite")
    sweep.refused(result, "not an eval folder", "never replaces it")
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_eval_overwrite_never_replaces_the_run_it_reads(sweep, caption_files):
    run = caption_files["run"]
    before = sorted(p.name for p in run.iterdir())
    for out, relation in ((run, "is the input"), (run.parent, "holds the input")):
        sweep.refused(sweep.invoke(caption_app, "eval", run, caption_files["set"], "-o", out, "--overwrite"), relation)
    assert sorted(p.name for p in run.iterdir()) == before


@pytest.mark.slow
def test_eval_overwrite_replaces_an_earlier_eval_folder(sweep, caption_files, tmp_path):
    out = tmp_path / "ev"
    with building_folder(out, kind=EVAL) as tmp:  # what an earlier `caption eval -o ev` leaves
        (tmp / "metrics.json").write_text("{}")
    args = ["eval", caption_files["run"], caption_files["set"], "-o", out, "--max-length", 4, "--device", "cpu",
            "--bootstrap", 0]
    sweep.refused(sweep.invoke(caption_app, *args), "holds another eval folder", "--overwrite")
    result = sweep.invoke(caption_app, *args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert folder_kind(out) == EVAL and json.loads((out / "metrics.json").read_text())["kind"] == "caption.eval"
    assert not (out / ".gaptools.lock").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ev")] == []  # no temporary leftovers


def test_train_overwrite_never_removes_a_lone_config_json_of_the_user(sweep, caption_files, tmp_path):
    out = tmp_path / "notarun"
    out.mkdir()
    (out / "config.json").write_text('{"my": "settings"}')
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", out,
                          *sweep.train_args(caption_files["decoder"]), "--overwrite")
    sweep.refused(result, "not a run folder", "never replaces it")
    assert json.loads((out / "config.json").read_text()) == {"my": "settings"}


def test_train_into_the_folder_holding_its_data_is_refused(sweep, caption_files, tmp_path):
    data = tmp_path / "set.npz"
    data.write_bytes(caption_files["set"].read_bytes())
    result = sweep.invoke(caption_app, "train", data, "-o", tmp_path, *sweep.train_args(caption_files["decoder"]))
    sweep.refused(result, "holds the input")
    assert data.read_bytes() == caption_files["set"].read_bytes()


def test_report_never_replaces_an_earlier_report_that_holds_one_of_its_inputs(sweep, planted, tmp_path):
    gap = tmp_path / "gap.json"
    assert sweep.invoke(app, "measure", planted, "--json", gap, "--bootstrap", 0).exit_code == 0
    report = tmp_path / "report"
    assert sweep.invoke(app, "report", gap, "-o", report).exit_code == 0
    assert folder_kind(report) == REPORT
    moved = report / "gap.json"
    gap.rename(moved)
    sweep.refused(sweep.invoke(app, "report", moved, "-o", report), "holds the input")
    assert moved.is_file()
    result = sweep.invoke(app, "report", moved, "-o", tmp_path / "report2")
    assert result.exit_code == 0, result.output
    result = sweep.invoke(app, "report", moved, "-o", tmp_path / "report2")  # an earlier report is replaced
    assert result.exit_code == 0, result.output


def test_world_generate_refuses_a_run_folder(sweep, caption_files):
    result = sweep.invoke(app, "world", "generate", "-o", caption_files["run"], "--images", 12)
    sweep.refused(result, "not a world folder", "(it holds a run folder)")


# --- failed starts leave nothing that blocks a rerun ------------------------------------------------------


def test_bad_settings_leave_no_folder(sweep, caption_files, tmp_path):
    for bad in (["--lr", "nan"], ["--max-tokens", "0"], ["--weight-decay", "inf"]):
        out = tmp_path / "run"
        result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", out,
                              *sweep.train_args(caption_files["decoder"]), *bad)
        sweep.refused(result, bad[0])
        assert not out.exists(), bad


def test_a_run_that_fails_before_its_first_checkpoint_does_not_block_a_rerun(caption_files, tmp_path):
    from gaptools.caption.config import TrainConfig
    from gaptools.caption.train import train

    config = TrainConfig(str(caption_files["set"]), str(tmp_path / "run"), decoder=str(caption_files["decoder"]),
                         epochs=1, batch_size=4, prefix_length=2, warmup=0, lr=1e-3, device="cpu")

    def crash(event):
        raise RuntimeError("the machine fell over")

    with pytest.raises(RuntimeError):
        train(config, on_step=crash)
    assert (tmp_path / "run" / "config.json").is_file() and not (tmp_path / "run" / "checkpoint.pt").exists()
    assert train(config) == tmp_path / "run"  # no --overwrite needed: nothing was trained there
    assert (tmp_path / "run" / "final" / "model.pt").is_file()


# --- the mechanism itself -----------------------------------------------------------------------------------


def test_building_folder_leaves_the_old_folder_when_the_build_fails(tmp_path):
    out = tmp_path / "r"
    with building_folder(out, kind=REPORT) as tmp:
        (tmp / "index.html").write_text("one")
    with pytest.raises(ZeroDivisionError), building_folder(out, kind=REPORT, replace=True) as tmp:
        (tmp / "index.html").write_text("two")
        1 / 0
    assert (out / "index.html").read_text() == "one" and (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_check_output_folder_states(tmp_path):
    assert check_output_folder(tmp_path / "new", kind=EVAL, option="-o") is False
    (tmp_path / "empty").mkdir()
    assert check_output_folder(tmp_path / "empty", kind=EVAL, option="-o") is False
    with building_folder(tmp_path / "ev", kind=EVAL) as tmp:
        (tmp / "metrics.json").write_text("{}")
    with pytest.raises(OutputError, match="holds another eval folder"):
        check_output_folder(tmp_path / "ev", kind=EVAL, option="-o")
    assert check_output_folder(tmp_path / "ev", kind=EVAL, option="-o", overwrite=True) is True
    with pytest.raises(OutputError, match="not a report folder.*it holds an eval folder"):
        check_output_folder(tmp_path / "ev", kind=REPORT, option="-o", overwrite=True)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        check_output_folder(tmp_path / "f", kind=EVAL, option="-o")
