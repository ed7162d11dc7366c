"""Files changed after they were written (issue 31, items 2, 4 and 5): named in one line, never used.

Each class below loaded before and gave wrong results or an "Unexpected error": an aligner or a
run whose bytes were flipped (checksums now name the file), files from before checksums whose
values no writer produces (validated by value: unit-ball means, real booleans, integer sizes,
shapes that match the model, known model types, weights that do not overflow), a model.json
that disagrees with model.pt (torch's multi-line size mismatch), an eval folder edited before a
report, a report number too large for a float, a bridge fit that diverged (written, then refused
at apply), and a loaded aligner that could not be saved again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gaptools.align import fit_on_set, load_aligner, save_aligner
from gaptools.checksums import MANIFEST
from gaptools.cli.caption import app as caption_app
from gaptools.cli.main import app
from gaptools.errors import InputError
from gaptools.io import load_set

BRIDGE = ["-m", "diffusion-bridge", "-p", "train_steps=20", "-p", "width=8", "-p", "blocks=1"]


def _rewrite_npz(src: Path, dst: Path, change) -> Path:
    """``src``'s arrays, ``change``d (a function of the dict), written with np.savez as anyone could."""
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)
    return dst


def _without_checksums(arrays: dict) -> None:
    """A header as written before checksums existed."""
    header = json.loads(str(arrays["header"]))
    header.pop("sha256", None)
    arrays["header"] = np.array(json.dumps(header))


# --------------------------------------------------------------------- checksums of every written kind


def test_a_changed_aligner_is_named_from_the_cli_and_from_python(sweep, planted, tmp_path):
    good = tmp_path / "m.aligner"
    assert sweep.invoke(app, "align", "fit", planted, "-m", "coral", "-o", good).exit_code == 0

    def nudge(arrays):
        arrays["weight_"] = arrays["weight_"].copy()
        arrays["weight_"][0, 0] += 1e-3  # a plausible value: only the checksum can tell

    bad = _rewrite_npz(good, tmp_path / "bad.aligner", nudge)
    result = sweep.invoke(app, "align", "apply", bad, planted, "-o", tmp_path / "out.npz")
    sweep.refused(result, "bad.aligner", "changed after it was written", "weight_")
    assert not (tmp_path / "out.npz").exists()
    with pytest.raises(InputError, match="changed after it was written"):
        load_aligner(bad)

    def retitle(arrays):
        header = json.loads(str(arrays["header"]))
        header["direction"] = "text-to-image"
        arrays["header"] = np.array(json.dumps(header))

    with pytest.raises(InputError, match="SHA-256 of its header differs"):
        load_aligner(_rewrite_npz(good, tmp_path / "head.aligner", retitle))


def test_a_changed_run_file_is_named_before_it_is_used(sweep, caption_files, tmp_path):
    """50 XORed bytes of final/model.pt gave weights up to 1720 and exit 0; config.json and
    model.json edits and a tokenizer file too: each is named, exit 2."""
    from gaptools.caption.checkpoint import load_run

    for relative in ("final/model.pt", "config.json", "final/model.json", "tokenizer/tokenizer.json"):
        run = tmp_path / relative.replace("/", "_")
        shutil.copytree(caption_files["run"], run)
        target = run / relative
        data = bytearray(target.read_bytes())
        middle = len(data) // 2
        if target.suffix == ".pt":
            data[middle:middle + 50] = bytes(b ^ 0x5A for b in data[middle:middle + 50])
        else:
            data[middle:middle + 1] = b" " if data[middle:middle + 1] != b" " else b"\t"  # valid JSON still
        target.write_bytes(bytes(data))
        result = sweep.invoke(caption_app, "eval", run, caption_files["set"], "-o", tmp_path / f"ev_{run.name}",
                              "--device", "cpu", "--bootstrap", "0")
        sweep.refused(result, relative.split("/")[-1], "changed after it was written")
        with pytest.raises(InputError, match="changed after it was written"):
            load_run(run)


def test_a_changed_checkpoint_is_named_on_resume(sweep, caption_files, tmp_path):
    """checkpoint.pt carries its own SHA-256: flipped weights are named, never trained on."""
    from gaptools.caption.checkpoint import load_checkpoint

    run = tmp_path / "run"
    shutil.copytree(caption_files["run"], run)
    shutil.rmtree(run / "final")  # as if killed after its last checkpoint
    assert load_checkpoint(run)["step"] > 0
    data = bytearray((run / "checkpoint.pt").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 50] = bytes(b ^ 0x5A for b in data[middle:middle + 50])
    (run / "checkpoint.pt").write_bytes(bytes(data))
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", run, "--resume",
                          *sweep.train_args(caption_files["decoder"]))
    sweep.refused(result, "checkpoint.pt", "changed after it was written")
    with pytest.raises(InputError, match="checkpoint.pt: changed after it was written"):
        load_checkpoint(run)


def test_an_edited_eval_folder_is_named_by_the_report(sweep, caption_files, tmp_path):
    pytest.importorskip("pycocoevalcap")
    evaluated = tmp_path / "ev"
    result = sweep.invoke(caption_app, "eval", caption_files["run"], caption_files["set"], "-o", evaluated,
                          "--device", "cpu", "--bootstrap", "0")
    if result.exit_code != 0 and "Java" in result.output:
        pytest.skip("caption eval needs Java for its scorers")
    assert result.exit_code == 0, result.output
    assert (evaluated / MANIFEST).is_file()
    metrics = evaluated / "metrics.json"
    doc = json.loads(metrics.read_text())
    doc["configurations"][0]["metrics"] = {k: 99.0 for k in doc["configurations"][0]["metrics"]}
    metrics.write_text(json.dumps(doc))
    result = sweep.invoke(app, "report", evaluated, "-o", tmp_path / "report")
    sweep.refused(result, "metrics.json", "changed after it was written")


# --------------------------------------------------------------------- values no writer produces (old files)


@pytest.mark.parametrize("method, change, needle", [
    ("center", lambda a: a.update(mean_txt_=a["mean_txt_"] / np.linalg.norm(a["mean_txt_"]) * 1.5),
     "'mean_txt_' has norm 1.5"),
    ("center", lambda a: a.update(mean_img_=np.full_like(a["mean_img_"], 10.0)), "'mean_img_' has norm"),
    ("coral", lambda a: a.update(weight_=np.full_like(a["weight_"], 3e38)), "map unit vectors to values"),
])
def test_an_old_aligner_is_validated_by_value_and_blamed(sweep, planted, tmp_path, method, change, needle):
    """Every output row was [1, 0, 0, ...] with exit 0; weights of 3e38 blamed the intact input for NaN."""
    good = tmp_path / "good.aligner"
    assert sweep.invoke(app, "align", "fit", planted, "-m", method, "-o", good).exit_code == 0

    def edit(arrays):
        _without_checksums(arrays)
        change(arrays)

    bad = _rewrite_npz(good, tmp_path / "old.aligner", edit)
    result = sweep.invoke(app, "align", "apply", bad, planted, "-o", tmp_path / "out.npz")
    sweep.refused(result, "old.aligner", "corrupt aligner file", needle)
    assert "set.npz" not in result.output
    with pytest.raises(InputError, match="corrupt aligner file"):
        load_aligner(bad)
    intact = _rewrite_npz(good, tmp_path / "intact.aligner", _without_checksums)  # an old, unchanged file loads
    assert load_aligner(intact).aligner.name == method


def _old_run(caption_files, tmp_path, name: str) -> Path:
    """A copy of the finished run as written before checksums (no final/checksums.json)."""
    run = tmp_path / name
    shutil.copytree(caption_files["run"], run)
    (run / "final" / MANIFEST).unlink()
    return run


def _edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


CONFIG_CASES = {
    "normalize-no": (lambda c: c.update(normalize="no"), "'normalize' must be true or false"),
    "clip-dim-string": (lambda c: c.update(clip_dim="512"), "'clip_dim' must be an integer"),
    "text-mean-nan": (lambda c: c.update(text_mean=[float("nan")] * c["clip_dim"]), "'text_mean' must be"),
    "text-mean-3-long": (lambda c: c.update(text_mean=[0.1, 0.2, 0.3]), "'text_mean' must be"),
    "text-mean-norm": (lambda c: c.update(text_mean=[1.0] * c["clip_dim"]), "'text_mean' has norm"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_an_old_run_config_is_validated_by_value(sweep, caption_files, tmp_path, case):
    """NaN text_mean captioned everything as "", a 3-long one was a broadcast error, "no" read as true."""
    from gaptools.caption.checkpoint import load_run

    change, needle = CONFIG_CASES[case]
    run = _old_run(caption_files, tmp_path, case)
    _edit_json(run / "config.json", change)
    result = sweep.invoke(caption_app, "eval", run, caption_files["set"], "-o", tmp_path / "ev",
                          "--device", "cpu", "--bootstrap", "0")
    sweep.refused(result, "config.json", needle)
    with pytest.raises(InputError, match="config.json"):
        load_run(run)


@pytest.mark.parametrize("text, needle", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('["a", "list"]', "must be a JSON object"),
])
def test_a_run_config_too_deep_or_a_list_is_one_line(sweep, caption_files, tmp_path, text, needle):
    run = _old_run(caption_files, tmp_path, "shape")
    (run / "config.json").write_text(text)
    result = sweep.invoke(caption_app, "eval", run, caption_files["set"], "-o", tmp_path / "ev",
                          "--device", "cpu", "--bootstrap", "0")
    sweep.refused(result, "config.json", needle)


MODEL_CASES = {
    "prefix-length-1e9": (lambda m: m["clipcap"].update(prefix_length=10**9), "memory budget"),
    "n-embd-1e7": (lambda m: m["decoder_config"].update(n_embd=10**7), "memory budget"),
    "unknown-model-type": (lambda m: m["decoder_config"].update(model_type="warp-lm"), "unknown decoder model_type"),
    "disagrees-with-model-pt": (lambda m: m["clipcap"].update(prefix_length=3), "does not match"),
    "clip-dim-string": (lambda m: m["clipcap"].update(clip_dim="8"), "clip_dim must be an integer"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_an_old_model_json_is_validated_and_budgeted_in_one_line(sweep, caption_files, tmp_path, case):
    """prefix_length 1e9 or n_embd 1e7 allocated; an unknown model_type or a model.pt of other shapes
    printed a Python error (torch's size mismatch over many lines)."""
    from gaptools.caption.checkpoint import load_run

    change, needle = MODEL_CASES[case]
    run = _old_run(caption_files, tmp_path, case)
    _edit_json(run / "final" / "model.json", change)
    result = sweep.invoke(caption_app, "eval", run, caption_files["set"], "-o", tmp_path / "ev",
                          "--device", "cpu", "--bootstrap", "0")
    sweep.refused(result, "model.json", needle)
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 3, result.output
    with pytest.raises(InputError, match=needle):
        load_run(run)


def test_a_report_number_too_large_for_a_float_is_one_line(sweep, planted, tmp_path):
    doc = tmp_path / "m.json"
    assert sweep.invoke(app, "measure", planted, "--json", doc, "--bootstrap", "0",
                        "--max-points", "20", "--max-gallery", "20").exit_code == 0
    text = json.loads(doc.read_text())
    first = next(iter(text["sets"][0]["metrics"]))
    text["sets"][0]["metrics"][first]["value"] = 10**400
    doc.write_text(json.dumps(text))
    result = sweep.invoke(app, "report", doc, "-o", tmp_path / "report")
    sweep.refused(result, "m.json", first, "must be a number")


# --------------------------------------------------------------------- a fit's result, and saving again


def test_a_diverged_bridge_fit_fails_in_one_line_and_writes_nothing(sweep, planted, tmp_path):
    pytest.importorskip("diffusers")
    out = tmp_path / "b.aligner"
    result = sweep.invoke(app, "align", "fit", planted, *BRIDGE, "-p", "lr=1e10", "-o", out)
    sweep.refused(result, "diffusion-bridge", "diverged", "lr")
    assert not out.exists()
    with pytest.raises(InputError, match="diverged"):
        fit_on_set("diffusion-bridge", load_set(planted), {"train_steps": 20, "width": 8, "blocks": 1, "lr": 1e10})


@pytest.mark.parametrize("method, params", [("mean", {}), ("coral", {}), ("ot-exact", {}),
                                            ("diffusion-bridge", {"train_steps": 5, "width": 8, "blocks": 1})])
def test_a_loaded_aligner_saves_again_bit_identically(planted, tmp_path, method, params):
    """``save_aligner(load_aligner(p), q)`` failed with "'SavedAligner' object has no attribute 'check_fitted'"."""
    if method == "diffusion-bridge":
        pytest.importorskip("diffusers")
    first = save_aligner(fit_on_set(method, load_set(planted), params), tmp_path / "m.aligner",
                         direction="text-to-image")
    copy = save_aligner(load_aligner(first), tmp_path / "copy.aligner")
    assert copy.read_bytes() == first.read_bytes()
    again = load_aligner(copy)
    assert again.direction == "text-to-image" and again.header == load_aligner(first).header


def test_an_aligner_records_its_fit_model_and_apply_warns_on_another(sweep, tmp_path):
    """A ConVIRT-fitted aligner was applied to a shapes-world set without a word (issue 30, item 5)."""
    from gaptools.io import save_set
    from gaptools.synthetic import planted_gap

    def with_model(seed: int, model: str) -> Path:
        s = planted_gap(30, 8, seed=seed, captions_per_image=2)
        return save_set(s.replace(meta={**s.meta, "encoder": "hf", "model": model}), tmp_path / f"{model}{seed}.npz")

    fit_set = with_model(0, "convirt")
    aligner = tmp_path / "m.aligner"
    assert sweep.invoke(app, "align", "fit", fit_set, "-m", "mean", "-o", aligner).exit_code == 0
    assert load_aligner(aligner).header["fit_model"] == {"encoder": "hf", "model": "convirt"}
    result = sweep.invoke(app, "align", "apply", aligner, with_model(1, "shapes-toy-clip"), "-o", tmp_path / "o.npz")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "Warning" in line]
    assert len(warnings) == 1 and "hf/convirt" in warnings[0] and "hf/shapes-toy-clip" in warnings[0], result.output
    same = sweep.invoke(app, "align", "apply", aligner, with_model(2, "convirt"), "-o", tmp_path / "p.npz")
    assert same.exit_code == 0 and "Warning" not in same.output, same.output
    import gaptools

    with pytest.warns(gaptools.GapToolsWarning, match="hf/convirt.*hf/shapes-toy-clip"):  # from Python too
        gaptools.apply_to_set(load_aligner(aligner), with_model(3, "shapes-toy-clip"), direction="image-to-text")


@pytest.mark.parametrize("field, value, needle", [("normalize", "no", "normalize must be True or False"),
                                                  ("prefix_length", "10", "--prefix-length must be an integer"),
                                                  ("epochs", 1.5, "--epochs must be an integer")])
def test_a_training_config_from_python_takes_real_booleans_and_integers(field, value, needle):
    """The settings a run records are what TrainConfig accepts: "no" read as true before, "10" a TypeError."""
    from gaptools.caption.config import TrainConfig

    with pytest.raises(InputError, match=needle):
        TrainConfig(data="d.npz", output="run", **{field: value})


def test_reproduce_names_an_eval_folder_changed_after_it_was_written(tmp_path):
    """reproduce combines eval folders across seeds: a changed one is named, never combined (issue 31, item 2)."""
    from gaptools.atomic import write_json
    from gaptools.checksums import write_manifest
    from gaptools.errors import InputError
    from gaptools.reproduce.results import collect_rows

    folder = tmp_path / "uclipcap-image"
    folder.mkdir()
    conf = {"name": "image", "input": "image", "image_stats": "stats-image.npz", "metrics": {"CIDEr": 0.5}}
    write_json(folder / "metrics.json", {"configurations": [conf], "n_images": 3})
    (folder / "stats-image.npz").write_bytes(b"stats")
    write_manifest(folder, {name: folder / name for name in ("metrics.json", "stats-image.npz")})
    assert list(collect_rows({0: [folder]})) == ["uclipcap/image"]
    (folder / "stats-image.npz").write_bytes(b"STATS")
    with pytest.raises(InputError, match="stats-image.npz: changed after it was written"):
        collect_rows({0: [folder]})
