"""One rule for writing files, from Python and from every command that writes one (issues 30 and 31).

Never over a file the object was read from (or what a symbolic link resolves to); an existing file
is replaced only when it is the writer's own earlier output of the same kind, anything else only
with ``overwrite=True`` / ``--overwrite``. Before the rule, ``save_set`` replaced the set it was
read from (and a link to it with a file), ``measure --json notes.txt`` replaced a user's notes and
``align apply -o precious.npz`` an unrelated archive.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import gaptools
from gaptools.cli.caption import app as caption_app
from gaptools.cli.main import app

NOTES = "my notes: do not lose these\n"


@pytest.fixture
def foreign_npz(tmp_path):
    """An .npz that gaptools did not write (arrays named like a set's, no gaptools meta)."""
    path = tmp_path / "precious.npz"
    np.savez(path, image=np.ones((2, 3)), text=np.ones((2, 3)), text_image=np.arange(2))
    return path


def _same(path, before: bytes) -> bool:
    return path.read_bytes() == before


# --- from Python ------------------------------------------------------------------------------------


def test_save_set_never_writes_over_the_file_the_set_was_read_from(planted):
    before = planted.read_bytes()
    eset = gaptools.load_set(planted)
    aligned = gaptools.apply_to_set(gaptools.fit_on_set("mean", eset), eset, direction="image-to-text")
    for target in (planted, str(planted)):
        with pytest.raises(gaptools.InputError, match="is the input"):
            gaptools.save_set(aligned, target)
        with pytest.raises(gaptools.InputError, match="is the input"):
            gaptools.save_set(aligned, target, overwrite=True)  # overwrite never reaches an input
    assert _same(planted, before)


def test_a_part_of_a_set_never_replaces_the_file_it_came_from(planted):
    before = planted.read_bytes()
    fit, test = gaptools.load_set(planted).split(test=0.5, seed=0)
    for part in (fit, test, fit.subset([0, 1])):
        with pytest.raises(gaptools.InputError, match="is the input"):
            gaptools.save_set(part, planted, overwrite=True)
    assert _same(planted, before)


def test_save_set_never_writes_through_a_link_to_its_source(planted, tmp_path):
    before = planted.read_bytes()
    link = tmp_path / "link.npz"
    link.symlink_to(planted)
    eset = gaptools.load_set(planted)
    with pytest.raises(gaptools.InputError, match="is the input"):
        gaptools.save_set(eset, link, overwrite=True)
    assert link.is_symlink() and _same(planted, before)
    via_link = gaptools.load_set(link)  # read through the link: the file it resolves to is the input
    with pytest.raises(gaptools.InputError, match="is the input"):
        gaptools.save_set(via_link, planted, overwrite=True)
    assert _same(planted, before)


def test_save_set_replaces_only_its_own_kind_of_file(planted, foreign_npz, tmp_path):
    from gaptools.outputs import SET_FILE, file_kind

    eset = gaptools.planted_gap(20, 4)
    notes = tmp_path / "notes.npz"
    notes.write_text(NOTES)
    for path in (notes, foreign_npz):
        before = path.read_bytes()
        with pytest.raises(gaptools.InputError, match="overwrite=True"):
            gaptools.save_set(eset, path)
        assert _same(path, before)
        gaptools.save_set(eset, path, overwrite=True)
        assert gaptools.load_set(path).n_image == 20
    own = tmp_path / "own.npz"
    gaptools.save_set(gaptools.planted_gap(10, 4), own)
    gaptools.save_set(eset, own)  # an earlier embedding set: replaced without asking
    assert gaptools.load_set(own).n_image == 20 and file_kind(own) == SET_FILE


def test_save_set_does_not_replace_a_symlink_unasked(tmp_path):
    target = gaptools.save_set(gaptools.planted_gap(10, 4), tmp_path / "target.npz")
    before = target.read_bytes()
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    with pytest.raises(gaptools.InputError, match="symbolic link"):
        gaptools.save_set(gaptools.planted_gap(20, 4), link)
    gaptools.save_set(gaptools.planted_gap(20, 4), link, overwrite=True)  # the link is replaced, never its target
    assert not link.is_symlink() and gaptools.load_set(link).n_image == 20 and _same(target, before)


def test_save_aligner_follows_the_same_rule(planted, tmp_path):
    eset = gaptools.load_set(planted)
    aligner = gaptools.fit_on_set("mean", eset)
    path = gaptools.save_aligner(aligner, tmp_path / "m.aligner")
    gaptools.save_aligner(gaptools.fit_on_set("center", eset), path)  # its own earlier aligner: replaced
    assert gaptools.load_aligner(path).aligner.name == "center"
    before = planted.read_bytes()
    with pytest.raises(gaptools.InputError, match="overwrite=True"):
        gaptools.save_aligner(aligner, planted)  # an embedding set is not an aligner
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    with pytest.raises(gaptools.InputError, match="not a file gaptools wrote"):
        gaptools.save_aligner(aligner, notes)
    assert _same(planted, before) and notes.read_text() == NOTES
    gaptools.save_aligner(aligner, notes, overwrite=True)
    assert gaptools.load_aligner(notes).aligner.name == "mean"
    saved = gaptools.load_aligner(path)
    before = path.read_bytes()
    with pytest.raises(gaptools.InputError, match="is the input"):
        gaptools.save_aligner(saved, path, overwrite=True)  # the file it was read from
    assert _same(path, before)


def test_file_kind_reads_the_content_not_the_name(planted, foreign_npz, tmp_path):
    from gaptools.outputs import SET_FILE, file_kind

    aligner = gaptools.save_aligner(gaptools.fit_on_set("mean", gaptools.load_set(planted)), tmp_path / "a.npz")
    doc = tmp_path / "m.txt"
    doc.write_text(json.dumps({"kind": "gaptools.measure", "sets": []}))
    renamed = tmp_path / "set.aligner"
    renamed.write_bytes(planted.read_bytes())
    assert [file_kind(p) for p in (planted, renamed, aligner, doc, foreign_npz, tmp_path, tmp_path / "none")] == [
        SET_FILE, SET_FILE, "gaptools.aligner", "gaptools.measure", None, None, None]


# --- every command that writes a file ---------------------------------------------------------------


def test_measure_json_replaces_only_an_earlier_measure_result(sweep, planted, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    args = ["measure", planted, "--bootstrap", 0, "--max-points", 20, "--json"]
    sweep.refused(sweep.invoke(app, *args, notes), "--json", "not a file gaptools wrote", "--overwrite")
    assert notes.read_text() == NOTES
    assert sweep.invoke(app, *args, notes, "--overwrite").exit_code == 0
    assert json.loads(notes.read_text())["kind"] == "gaptools.measure"
    result = sweep.invoke(app, *args, notes)  # now its own earlier result: replaced without the flag
    assert result.exit_code == 0, result.output
    link = tmp_path / "link.json"
    link.symlink_to(planted)
    before = planted.read_bytes()
    for target in (planted, link):  # an input, or a link to one: never, whatever the flags
        sweep.refused(sweep.invoke(app, *args, target, "--overwrite"), "is the input")
    assert _same(planted, before) and link.is_symlink()


def test_align_fit_and_apply_replace_only_their_own_kind(sweep, planted, foreign_npz, tmp_path):
    aligner = tmp_path / "m.aligner"
    assert sweep.invoke(app, "align", "fit", planted, "-o", aligner).exit_code == 0
    result = sweep.invoke(app, "align", "fit", planted, "-m", "center", "-o", aligner)  # an earlier aligner
    assert result.exit_code == 0, result.output
    assert gaptools.load_aligner(aligner).aligner.name == "center"
    mine = tmp_path / "mine.aligner"
    mine.write_text(NOTES)
    sweep.refused(sweep.invoke(app, "align", "fit", planted, "-o", mine), "-o", "not a file gaptools wrote")
    assert mine.read_text() == NOTES
    assert sweep.invoke(app, "align", "fit", planted, "-o", mine, "--overwrite").exit_code == 0

    before = foreign_npz.read_bytes()
    sweep.refused(sweep.invoke(app, "align", "apply", aligner, planted, "-o", foreign_npz),
                  "-o", "not a file gaptools wrote", "--overwrite")
    assert _same(foreign_npz, before)
    out = tmp_path / "aligned.npz"
    for _ in range(2):  # new, then its own earlier set
        result = sweep.invoke(app, "align", "apply", aligner, planted, "-o", out)
        assert result.exit_code == 0, result.output
    assert sweep.invoke(app, "align", "apply", aligner, planted, "-o", foreign_npz, "--overwrite").exit_code == 0
    assert gaptools.load_set(foreign_npz).n_image == 40
    before = planted.read_bytes()
    link = tmp_path / "link.npz"
    link.symlink_to(planted)
    for target in (planted, link):
        sweep.refused(sweep.invoke(app, "align", "apply", aligner, planted, "-o", target, "--overwrite"),
                      "is the input")
    assert _same(planted, before)


def test_align_compare_json_is_not_replaced_by_another_kind(sweep, planted, tmp_path):
    measured = tmp_path / "gap.json"
    assert sweep.invoke(app, "measure", planted, "--bootstrap", 0, "--max-points", 20, "--json", measured).exit_code == 0
    before = measured.read_bytes()
    args = ["align", "compare", planted, planted, "--methods", "mean", "--bootstrap", 0, "--max-points", 20, "--json"]
    sweep.refused(sweep.invoke(app, *args, measured), "it is a gaptools.measure document", "--overwrite")
    assert _same(measured, before)
    out = tmp_path / "compare.json"
    for _ in range(2):
        result = sweep.invoke(app, *args, out)
        assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["kind"] == "gaptools.align.compare"


def test_world_score_json_replaces_only_an_earlier_score(sweep, tmp_path):
    world = tmp_path / "world"
    generate = ["world", "generate", "--images", "6", "--seed", "1", "--val", "1", "--test", "1", "--image-size", "32"]
    assert sweep.invoke(app, *generate, "-o", world).exit_code == 0
    entries = json.loads((world / "captions.json").read_text())["images"]
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps([{"image_id": e["filename"], "caption": e["sentences"][0]["raw"]} for e in entries]))
    notes = tmp_path / "scores.json"
    notes.write_text(NOTES)
    sweep.refused(sweep.invoke(app, "world", "score", world, preds, "--json", notes), "--json", "--overwrite")
    assert notes.read_text() == NOTES
    for extra in (["--overwrite"], []):  # replaced when asked, then as its own earlier score
        result = sweep.invoke(app, "world", "score", world, preds, "--json", notes, *extra)
        assert result.exit_code == 0, result.output
    assert json.loads(notes.read_text())["kind"] == "gaptools.world.score"
    sweep.refused(sweep.invoke(app, "world", "score", world, preds, "--json", world / "captions.json", "--overwrite"),
                  "input folder")


def test_world_train_clip_never_writes_into_a_folder_it_did_not_make(sweep, tmp_path):
    world = tmp_path / "world"
    generate = ["world", "generate", "--images", "6", "--seed", "1", "--val", "1", "--test", "1", "--image-size", "32"]
    assert sweep.invoke(app, *generate, "-o", world).exit_code == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.json").write_text(NOTES)  # the user's own file, named like the run's
    sweep.refused(sweep.invoke(app, "world", "train-clip", world, "-o", mine, "--steps", 1),
                  "is not empty and not a toy-CLIP folder")
    assert (mine / "model.json").read_text() == NOTES
    sweep.refused(sweep.invoke(app, "world", "train-clip", world, "-o", world, "--steps", 1), "is the input")


def test_caption_score_json_replaces_only_an_earlier_score(sweep, tmp_path):
    preds, refs, out = tmp_path / "p.json", tmp_path / "r.json", tmp_path / "s.json"
    preds.write_text(json.dumps([{"image_id": 1, "caption": "a dog runs"}, {"image_id": 2, "caption": "a cat"}]))
    refs.write_text(json.dumps({"1": ["a dog runs on the grass"], "2": ["a cat is sleeping"]}))
    out.write_text(NOTES)
    sweep.refused(sweep.invoke(caption_app, "score", preds, refs, "--json", out), "--json", "--overwrite")
    assert out.read_text() == NOTES
    sweep.refused(sweep.invoke(caption_app, "score", preds, refs, "--json", refs, "--overwrite"), "is the input")
    # an earlier score is accepted unasked: the command goes on to read the predictions (which name an
    # image without references, so it stops there, before the scorers start Java); the kind it writes is
    # checked in tests/cli/test_caption_eval_cli.py
    out.write_text(json.dumps({"kind": "caption.score", "version": 1}))
    preds.write_text(json.dumps([{"image_id": 3, "caption": "a bird"}]))
    sweep.refused(sweep.invoke(caption_app, "score", preds, refs, "--json", out), "have no references")


def test_embed_refuses_a_foreign_output_before_loading_a_model(sweep, foreign_npz, tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text("image,caption\n0.png,a red square\n1.png,a blue circle\n")
    before = foreign_npz.read_bytes()
    result = sweep.invoke(app, "embed", "csv", table, "--text-only", "--model", "no-such-model", "-o", foreign_npz)
    sweep.refused(result, "-o", "not a file gaptools wrote")
    assert _same(foreign_npz, before)
