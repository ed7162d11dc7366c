"""The report's conformity histograms (every set, and after an aligner) and its mode-collapse flag."""

import json

import numpy as np
from PIL import Image

from gaptools.align import fit_on_set, save_aligner
from gaptools.io import save_set
from gaptools.reports import tables
from gaptools.reports.build import build_report
from gaptools.reports.inputs import load_inputs
from gaptools.synthetic import planted_gap


def test_report_draws_conformity_for_each_set_and_after_the_aligner(tmp_path):
    s = planted_gap(150, 16, shift=0.7, captions_per_image=2, seed=2)
    path = save_set(s, tmp_path / "test.npz")
    aligner = tmp_path / "mean.aligner"
    save_aligner(fit_on_set("mean", s), aligner)
    page = build_report(load_inputs([]), tmp_path / "report", sets=[path], aligner=aligner).read_text()
    assert "Conformity of images and captions" in page
    png = tmp_path / "report" / "figures" / "set0_conformity.png"
    with Image.open(png) as im:
        im.load()
        assert im.size[0] > 100


def _eval_doc(tmp_path, diversity):
    folder = tmp_path / "ev"
    folder.mkdir(exist_ok=True)
    configurations = [{"name": "image", "input": "image", "metrics": {"CIDEr": 1.0}, "diversity": diversity},
                      {"name": "text", "input": "text", "metrics": {"CIDEr": 90.0}}]
    (folder / "metrics.json").write_text(json.dumps({"kind": "caption.eval", "version": 1, "run": "runs/r",
                                                     "configurations": configurations}))
    return load_inputs([folder]).evals


def test_a_collapsed_configuration_is_flagged_in_the_captioning_table(tmp_path):
    collapsed = {"n_captions": 500, "distinct_captions": 3, "distinct_fraction": 0.006, "mode_collapse": True}
    table = tables.captioning_table(_eval_doc(tmp_path, collapsed))
    flagged = [label for label in table.index if "mode collapse" in label]
    assert flagged == ["r · input=image ⚠ mode collapse: 3 distinct captions for 500 images"]
    healthy = dict(collapsed, distinct_captions=480, distinct_fraction=0.96, mode_collapse=False)
    assert not any("collapse" in label for label in tables.captioning_table(_eval_doc(tmp_path, healthy)).index)
    assert np.isclose(table.loc[flagged[0], "CIDEr"], 1.0)
