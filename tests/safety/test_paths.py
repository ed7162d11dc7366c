"""Path containment: a path taken from a data file is read only inside the folder the user named.

Before ``gaptools.validation.contained_path`` the report embedded any file an ``image_id`` pointed
at (``../x.png``, absolute paths), took its image folder from a set's own ``meta``, and
``gaptools embed`` followed ``..`` and absolute file names out of ``--images``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from gaptools.cli.main import app
from gaptools.datasets import read_coco, read_flickr_tokens, resolve_images
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, save_set

SECRET = (200, 10, 30)


@pytest.fixture
def report_case(tmp_path):
    """A secret image outside the images folder, a set and an eval folder whose ids can point at it."""
    (tmp_path / "images").mkdir()
    Image.new("RGB", (16, 16), SECRET).save(tmp_path / "secret.png")
    Image.new("RGB", (16, 16), (0, 0, 255)).save(tmp_path / "images" / "ok.png")
    Image.new("RGB", (16, 16), (0, 255, 0)).save(tmp_path / "images" / "ok2.png")

    def make(image_ids, meta=None):
        rng = np.random.default_rng(0)
        s = EmbeddingSet(image=rng.normal(size=(2, 4)), text=rng.normal(size=(2, 4)), text_image=np.arange(2),
                         image_id=np.array(image_ids), caption=np.array(["a secret", "a blue square"]),
                         meta=meta or {})
        set_path = save_set(s, tmp_path / "set.npz")
        ev = tmp_path / "ev"
        ev.mkdir(exist_ok=True)
        (ev / "metrics.json").write_text(json.dumps({"kind": "caption.eval", "version": 1, "run": "r", "set": "s",
                                                     "configurations": [{"input": "image", "metrics": {"CIDEr": 1.0},
                                                                         "predictions": "predictions.json"}]}))
        (ev / "predictions.json").write_text(json.dumps([{"image_id": i, "caption": "x"} for i in image_ids]))
        return set_path, ev

    return tmp_path, make


@pytest.mark.parametrize("entry", ["../secret.png", "images/../../secret.png", "ABSOLUTE"])
def test_report_refuses_an_image_id_that_leaves_the_images_folder(sweep, report_case, entry):
    root, make = report_case
    entry = str(root / "secret.png") if entry == "ABSOLUTE" else entry
    set_path, ev = make([entry, "ok.png"])
    result = sweep.invoke(app, "report", ev, "--sets", set_path, "--images", root / "images", "-o", root / "report")
    sweep.refused(result, "image_id of image 0", repr(entry))
    assert not (root / "report").exists()


def test_report_reads_images_only_from_the_images_option_never_from_a_sets_meta(sweep, report_case):
    root, make = report_case
    set_path, ev = make(["secret.png", "ok.png"], meta={"images": str(root)})  # the set points at the secret
    result = sweep.invoke(app, "report", ev, "--sets", set_path, "-o", root / "report")
    assert result.exit_code == 0, result.output
    assert "<h2>Samples" not in (root / "report" / "index.html").read_text()
    set_path, ev = make(["ok.png", "ok2.png"])
    result = sweep.invoke(app, "report", ev, "--sets", set_path, "--images", root / "images", "-o", root / "report")
    assert result.exit_code == 0, result.output
    assert "<h2>Samples" in (root / "report" / "index.html").read_text()


def test_report_refuses_a_predictions_file_outside_the_eval_folder(sweep, report_case):
    root, make = report_case
    _, ev = make(["ok.png", "ok2.png"])
    doc = json.loads((ev / "metrics.json").read_text())
    doc["configurations"][0]["predictions"] = "../../elsewhere.json"
    (ev / "metrics.json").write_text(json.dumps(doc))
    sweep.refused(sweep.invoke(app, "report", ev, "-o", root / "report"), "configurations[0].predictions",
                  "a file name in the eval folder")


def _karpathy(path, filenames):
    images = [{"filepath": "", "filename": f, "imgid": i, "split": "test",
               "sentences": [{"raw": f"caption {i}"}]} for i, f in enumerate(filenames)]
    path.write_text(json.dumps({"dataset": "x", "images": images}))
    return path


@pytest.mark.parametrize("name", ["../secret.png", "sub/../../secret.png", "ABSOLUTE"])
def test_embed_refuses_annotation_file_names_that_leave_the_images_folder(sweep, tmp_path, name):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.png")
    name = str(tmp_path / "secret.png") if name == "ABSOLUTE" else name
    ann = _karpathy(tmp_path / "ann.json", [name])
    result = sweep.invoke(app, "embed", "coco", "--annotations", ann, "--split", "test", "--images",
                          tmp_path / "images", "-o", tmp_path / "x.npz")
    sweep.refused(result, "file of image", repr(name))
    assert "--allow-absolute-paths" in result.output or not name.startswith("/")


def test_absolute_file_names_need_the_flag_and_dotdot_is_refused_even_with_it(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.png")
    absolute = read_coco(_karpathy(tmp_path / "a.json", [str(tmp_path / "secret.png")]), split="test")
    with pytest.raises(InputError, match="is an absolute path"):
        resolve_images(absolute, tmp_path / "images")
    resolved, _ = resolve_images(absolute, tmp_path / "images", allow_absolute=True)
    assert resolved.image_file == [str(tmp_path / "secret.png")]
    dotdot = read_coco(_karpathy(tmp_path / "b.json", ["../secret.png"]), split="test")
    with pytest.raises(InputError, match="leaves the folder"):
        resolve_images(dotdot, tmp_path / "images", allow_absolute=True)


def test_flickr_token_file_names_stay_inside_the_images_folder(tmp_path):
    (tmp_path / "Flickr8k_Dataset").mkdir()
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("../../etc/passwd#0\ta caption\n")
    with pytest.raises(InputError, match="leaves the folder"):
        resolve_images(read_flickr_tokens(tokens), tmp_path / "Flickr8k_Dataset")
