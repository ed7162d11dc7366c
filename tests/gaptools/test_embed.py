"""The embedding loop on tiny real open_clip and Hugging Face CLIPs, on generated images."""

import numpy as np
import pytest
import torch
from PIL import Image

from gaptools.datasets import group_captions, resolve_images
from gaptools.embed import embed_dataset, load_encoder
from gaptools.embed.shards import parts_dir
from gaptools.embed.tiny import write_tiny_hf, write_tiny_openclip
from gaptools.errors import InputError
from gaptools.io import load_set

COLOURS = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (250, 250, 0), (0, 250, 250), (128, 0, 128), (90, 90, 90)]


@pytest.fixture(scope="module")
def openclip_files(tmp_path_factory):
    return write_tiny_openclip(tmp_path_factory.mktemp("oc"))


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    return write_tiny_hf(tmp_path_factory.mktemp("hf") / "tiny-clip")


@pytest.fixture(scope="module")
def encoder(openclip_files):
    config, checkpoint = openclip_files
    return load_encoder("tiny", str(checkpoint), model_config=config, device="cpu")


def make_records(folder, n=7):
    """n generated images of different colours and sizes; image i has 1 + i % 3 captions."""
    entries = []
    for i in range(n):
        Image.new("RGB", (30 + 3 * i, 40), COLOURS[i % len(COLOURS)]).save(folder / f"img{i}.png")
        entries += [(f"img{i}.png", f"img{i}.png", f"a {i} coloured square, take {j}", f"row {i}.{j}") for j in range(1 + i % 3)]
    records, _ = resolve_images(group_captions(entries, dataset="planted", source=str(folder / "ann.csv")), folder)
    return records


class Counting:
    """Counts what reaches the encoder; raises KeyboardInterrupt after ``stop_after`` image batches."""

    def __init__(self, inner, stop_after=None):
        self.inner, self.stop_after = inner, stop_after
        self.images = self.texts = self.image_batches = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_images(self, pixels):
        if self.stop_after is not None and self.image_batches >= self.stop_after:
            raise KeyboardInterrupt
        self.image_batches += 1
        self.images += pixels.shape[0]
        return self.inner.encode_images(pixels)

    def encode_texts(self, captions):
        self.texts += len(captions)
        return self.inner.encode_texts(captions)


def direct(encoder, records):
    """Reference embeddings, one item at a time, normalised."""
    with torch.no_grad():
        img = torch.cat([encoder.encode_images(encoder.preprocess(Image.open(p).convert("RGB"))[None]) for p in records.image_file])
        txt = torch.cat([encoder.encode_texts([c]) for c in records.caption])
    return torch.nn.functional.normalize(img, dim=-1).numpy(), torch.nn.functional.normalize(txt, dim=-1).numpy()


def test_open_clip_set_matches_item_by_item_encoding_and_encodes_each_image_once(tmp_path, encoder):
    records = make_records(tmp_path)
    counting = Counting(encoder)
    out = embed_dataset(records, counting, tmp_path / "set.npz", num_workers=0, batch_size=4,
                        image_batch_size=3, shard_size=3, progress=False)
    s = load_set(out)
    assert counting.images == records.n_image == 7 and counting.texts == records.n_text == 13
    ref_img, ref_txt = direct(encoder, records)
    np.testing.assert_allclose(s.image, ref_img, atol=1e-5)
    np.testing.assert_allclose(s.text, ref_txt, atol=1e-5)
    assert s.text_image.tolist() == records.text_image.tolist()
    assert s.image_id.tolist() == records.image_id and s.caption.tolist() == records.caption
    np.testing.assert_allclose(np.linalg.norm(s.text, axis=1), 1, atol=1e-5)
    assert s.meta["encoder"] == "open_clip" and s.meta["model"] == "tiny" and s.meta["normalized"] is True
    assert s.meta["dataset"] == "planted" and s.meta["precision"] == "fp32"
    assert not parts_dir(out).exists()  # the work folder is gone once the set is written


def test_no_normalize_keeps_raw_vectors_with_the_same_directions(tmp_path, encoder):
    records = make_records(tmp_path, n=3)
    raw = load_set(embed_dataset(records, encoder, tmp_path / "raw.npz", normalize=False, num_workers=0, progress=False))
    unit = load_set(embed_dataset(records, encoder, tmp_path / "unit.npz", num_workers=0, progress=False))
    assert raw.meta["normalized"] is False
    assert not np.allclose(np.linalg.norm(raw.image, axis=1), 1)
    np.testing.assert_allclose(raw.image / np.linalg.norm(raw.image, axis=1, keepdims=True), unit.image, atol=1e-5)


def test_text_only_writes_no_image_rows_and_keeps_the_grouping(tmp_path, encoder):
    records = make_records(tmp_path, n=4)
    records.image_file = [str(tmp_path / "never" / f) for f in records.image_file]  # images are not needed
    s = load_set(embed_dataset(records, encoder, tmp_path / "t.npz", text_only=True, shard_size=2, progress=False))
    assert s.n_image == 0 and s.n_text == records.n_text
    assert s.text_image.tolist() == records.text_image.tolist() and s.meta["text_only"] is True
    assert s.image_id.tolist() == records.image_id  # one id per caption group, images or not
    np.testing.assert_allclose(s.text, direct(encoder, make_records(tmp_path, n=4))[1], atol=1e-5)


def test_interrupted_run_leaves_no_final_file_and_resumes_where_it_stopped(tmp_path, encoder):
    records = make_records(tmp_path)
    out = tmp_path / "r.npz"
    kwargs = dict(num_workers=0, image_batch_size=2, shard_size=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        embed_dataset(records, Counting(encoder, stop_after=2), out, **kwargs)  # shards 0, 1 done, stops in 2
    assert not out.exists()
    shards = sorted(p.name for p in parts_dir(out).glob("*/shard-*.npz"))
    assert shards == ["shard-000000.npz", "shard-000001.npz"]
    resumed = Counting(encoder)
    embed_dataset(records, resumed, out, **kwargs)
    assert resumed.images == records.n_image - 4  # the 4 images of shards 0 and 1 were not encoded again
    fresh = load_set(embed_dataset(records, encoder, tmp_path / "fresh.npz", **kwargs))
    again = load_set(out)
    np.testing.assert_array_equal(again.image, fresh.image)
    np.testing.assert_array_equal(again.text, fresh.text)


def test_other_arguments_do_not_reuse_shards(tmp_path, encoder):
    records = make_records(tmp_path, n=3)
    out = tmp_path / "k.npz"
    with pytest.raises(KeyboardInterrupt):
        embed_dataset(records, Counting(encoder, stop_after=1), out, num_workers=0, image_batch_size=1,
                      shard_size=1, progress=False)
    counting = Counting(encoder)
    embed_dataset(records, counting, out, normalize=False, num_workers=0, shard_size=1, progress=False)
    assert counting.images == 3  # another key: nothing resumed
    assert load_set(out).meta["normalized"] is False


def test_workers_decode_images_and_a_truncated_image_is_named(tmp_path, encoder):
    records = make_records(tmp_path, n=5)
    a = load_set(embed_dataset(records, encoder, tmp_path / "w.npz", num_workers=2, image_batch_size=2, progress=False))
    np.testing.assert_allclose(a.image, direct(encoder, records)[0], atol=1e-5)
    data = (tmp_path / "img3.png").read_bytes()
    (tmp_path / "img3.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"img3.png: unreadable or truncated image"):
        embed_dataset(records, encoder, tmp_path / "bad.npz", num_workers=0, progress=False)
    assert not (tmp_path / "bad.npz").exists()


def test_hugging_face_clip_from_a_local_folder(tmp_path, hf_folder):
    encoder = load_encoder(f"hf:{hf_folder}", device="cpu")
    assert encoder.backend == "hf"
    records = make_records(tmp_path, n=4)
    s = load_set(embed_dataset(records, encoder, tmp_path / "hf.npz", num_workers=0, batch_size=3, progress=False))
    ref_img, ref_txt = direct(encoder, records)
    assert s.image.shape == (4, 16) and s.text.shape == (records.n_text, 16)
    np.testing.assert_allclose(s.image, ref_img, atol=1e-5)
    np.testing.assert_allclose(s.text, ref_txt, atol=1e-5)  # padded batches equal one-by-one encoding
    assert s.meta["encoder"] == "hf" and s.meta["model"] == f"hf:{hf_folder}"
    same = load_encoder(str(hf_folder), backend="hf", device="cpu")
    assert same.backend == "hf"


def test_bf16_autocast_on_cpu_stays_close_to_fp32(tmp_path, encoder):
    records = make_records(tmp_path, n=3)
    lo = load_set(embed_dataset(records, encoder, tmp_path / "b.npz", precision="bf16", num_workers=0, progress=False))
    hi = load_set(embed_dataset(records, encoder, tmp_path / "f.npz", precision="fp32", num_workers=0, progress=False))
    assert lo.meta["precision"] == "bf16"
    assert np.sum(lo.text * hi.text, axis=1).min() > 0.98


def test_unknown_model_and_tag_list_close_names():
    with pytest.raises(InputError, match="unknown open_clip model 'ViT-B-23'") as err:
        load_encoder("ViT-B-23", "openai", device="cpu")
    assert "ViT-B-32" in err.value.hint
    with pytest.raises(InputError, match="no pretrained tag 'opnai'") as err:
        load_encoder("ViT-B-32", "opnai", device="cpu")
    assert "openai" in err.value.hint


def test_no_network_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="could not download the weights of ViT-B-32 / openai"):
        load_encoder("ViT-B-32", "openai", device="cpu")
    with pytest.raises(InputError, match="could not load the Hugging Face model 'openai/clip-vit-base-patch32'"):
        load_encoder("hf:openai/clip-vit-base-patch32", device="cpu")


def test_checkpoint_that_does_not_match_its_config(tmp_path, openclip_files):
    import json

    config, checkpoint = openclip_files
    cfg = json.loads(config.read_text())
    cfg["embed_dim"] = 48
    (tmp_path / "other.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="does not match the model config .*other.json"):
        load_encoder("tiny", str(checkpoint), model_config=tmp_path / "other.json", device="cpu")
    (tmp_path / "notconfig.json").write_text('{"embed_dim": 3}')
    with pytest.raises(InputError, match="not an open_clip model config"):
        load_encoder("tiny", str(checkpoint), model_config=tmp_path / "notconfig.json", device="cpu")
    with pytest.raises(InputError, match="checkpoint file not found"):
        load_encoder("tiny", str(tmp_path / "missing.pt"), model_config=config, device="cpu")
    torch.save({"weights": object()}, tmp_path / "pickled.pt")
    with pytest.raises(InputError, match="not a plain state_dict"):
        load_encoder("tiny", str(tmp_path / "pickled.pt"), model_config=config, device="cpu")
