"""`gaptools embed` end to end with tiny models built from configs (no network)."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gaptools.cli.main import app
from gaptools.embed.tiny import write_tiny_openclip
from gaptools.io import load_set

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config, checkpoint = write_tiny_openclip(tmp_path_factory.mktemp("model"))
    return ["--model", "tiny", "--pretrained", str(checkpoint), "--model-config", str(config)]


@pytest.fixture
def pairs(tmp_path):
    (tmp_path / "img").mkdir()
    rows = ["path,caption"]
    for i in range(5):
        Image.new("RGB", (20 + i, 24), (50 * i, 40, 200 - 40 * i)).save(tmp_path / "img" / f"{i}.png")
        rows += [f"{i}.png,picture {i} number {j}" for j in range(2)]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_csv_command_writes_a_normalised_set(pairs, tiny):
    out = pairs / "x.npz"
    result = runner.invoke(app, ["embed", "csv", str(pairs / "pairs.csv"), "--image-column", "path", "--images",
                                 str(pairs / "img"), *tiny, "--workers", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 images, 10 captions" in result.output and f"Wrote {out}" in result.output
    s = load_set(out)
    assert (s.n_image, s.n_text, s.dim) == (5, 10, 32)
    assert s.text_image.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    np.testing.assert_allclose(np.linalg.norm(s.image, axis=1), 1, atol=1e-5)
    assert s.meta["model"] == "tiny" and s.meta["dataset"] == "pairs" and s.meta["normalized"] is True


def test_missing_images_are_listed_then_skipped_on_request(pairs, tiny):
    (pairs / "img" / "3.png").unlink()
    out = pairs / "x.npz"
    args = ["embed", "csv", str(pairs / "pairs.csv"), "--image-column", "path", "--images", str(pairs / "img"),
            *tiny, "--workers", "0", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "1 of 5 image(s) missing" in result.output and "3.png" in result.output
    assert "Traceback" not in result.output and not out.exists()
    result = runner.invoke(app, [*args, "--skip-missing"])
    assert result.exit_code == 0, result.output
    s = load_set(out)
    assert s.n_image == 4 and s.n_text == 8 and "3.png" not in s.image_id.tolist()
    assert s.meta["missing_images_skipped"] == 1


def test_coco_karpathy_text_only_needs_no_images(tmp_path, tiny):
    images = [{"filepath": "val2014", "filename": f"{i}.jpg", "cocoid": i, "split": "test" if i < 3 else "train",
               "sentences": [{"raw": f"a photo {i} {j}"} for j in range(5)]} for i in range(5)]
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"dataset": "coco", "images": images}))
    out = tmp_path / "t.npz"
    result = runner.invoke(app, ["embed", "coco", "--annotations", str(tmp_path / "dataset_coco.json"), "--split",
                                 "test", "--text-only", *tiny, "-o", str(out)])
    assert result.exit_code == 0, result.output
    s = load_set(out)
    assert s.n_image == 0 and s.n_text == 15 and np.bincount(s.text_image).tolist() == [5, 5, 5]
    assert s.meta["split"] == "test" and s.meta["text_only"] is True


def test_real_flickr8k_test_split_text_only(shared_data, tmp_path, tiny):
    folder = shared_data / "flickr8k"
    out = tmp_path / "f8k.npz"
    result = runner.invoke(app, ["embed", "flickr", "--captions", str(folder / "Flickr8k.token.txt"), "--split-file",
                                 str(folder / "Flickr_8k.testImages.txt"), "--text-only", *tiny, "-o", str(out),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    s = load_set(out)
    assert s.n_image == 0 and s.n_text == 5000
    assert np.bincount(s.text_image).tolist() == [5] * 1000
    first = (folder / "Flickr_8k.testImages.txt").read_text().split()[0]
    lines = (folder / "Flickr8k.token.txt").read_text().splitlines()
    assert s.caption[0] == next(ln.split("\t")[1] for ln in lines if ln.startswith(f"{first}#0"))
    assert s.meta["dataset"] == "flickr" and s.meta["split"] == "test"


def test_real_flickr30k_caption_map_text_only(shared_data, tmp_path, tiny):
    out = tmp_path / "f30k.npz"
    result = runner.invoke(app, ["embed", "json", str(shared_data / "flickr30k_karpathy_test" / "references.json"),
                                 "--text-only", *tiny, "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    s = load_set(out)
    assert s.n_text == 5000 and np.bincount(s.text_image).tolist() == [5] * 1000


@pytest.mark.parametrize("extra, message", [
    (["--model", "ViT-B-23"], "unknown open_clip model 'ViT-B-23'"),
    (["--model", "ViT-B-32", "--pretrained", "opnai"], "no pretrained tag 'opnai'"),
    (["--model", "tiny", "--pretrained", "openai", "--model-config", "MODEL_JSON"], "--pretrained must be a checkpoint file"),
    (["--model", "hf:./no-such-folder"], "Hugging Face model folder not found"),
    (["--device", "cuda:7"], "CUDA is not available"),
])
def test_bad_model_arguments_are_one_line_exit_2(pairs, tiny, extra, message):
    extra = [tiny[5] if a == "MODEL_JSON" else a for a in extra]
    out = pairs / "never.npz"
    result = runner.invoke(app, ["embed", "csv", str(pairs / "pairs.csv"), "--image-column", "path", "--images",
                                 str(pairs / "img"), *extra, "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_bad_annotation_files_are_one_line_exit_2(tmp_path, tiny):
    (tmp_path / "tok.txt").write_text("a.jpg#0\tx\na.jpg#0\ty\n")
    result = runner.invoke(app, ["embed", "flickr", "--captions", str(tmp_path / "tok.txt"), "--text-only", *tiny,
                                 "-o", str(tmp_path / "o.npz")])
    assert result.exit_code == 2 and "duplicate caption id" in result.output
    (tmp_path / "e.csv").write_text("image,caption\na.png,\n")
    result = runner.invoke(app, ["embed", "csv", str(tmp_path / "e.csv"), "--text-only", *tiny, "-o", str(tmp_path / "o.npz")])
    assert result.exit_code == 2 and "1 empty caption" in result.output and "--skip-empty" in result.output
    assert not (tmp_path / "o.npz").exists()
