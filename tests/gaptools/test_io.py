import json
import zipfile

import numpy as np
import pytest

from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, from_pairs, load_pair, load_set, save_set
from gaptools.synthetic import planted_gap


def test_roundtrip_keeps_every_array(tmp_path):
    s = planted_gap(20, 8, captions_per_image=3)
    s = s.replace(image_id=np.array([f"img{i}.jpg" for i in range(20)]),
                  caption=np.array([f"caption {i}" for i in range(60)]))
    path = save_set(s, tmp_path / "s.npz")
    back = load_set(path)
    np.testing.assert_array_equal(back.image, s.image)
    np.testing.assert_array_equal(back.text, s.text)
    np.testing.assert_array_equal(back.text_image, s.text_image)
    assert list(back.image_id) == list(s.image_id) and list(back.caption) == list(s.caption)
    assert back.meta["shift"] == 0.5 and back.meta["created_by"].startswith("gaptools")


def test_float16_storage_and_text_only_set(tmp_path):
    s = EmbeddingSet(image=np.zeros((0, 4), np.float32), text=np.eye(4, dtype=np.float32) + 1,
                     text_image=np.array([0, 0, 1, 1]))
    back = load_set(save_set(s, tmp_path / "t.npz", float16=True))
    assert back.n_image == 0 and back.n_text == 4 and not back.has_pairs
    assert back.text.dtype == np.float32 and back.dim == 4
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        assert z["text"].dtype == np.float16


def test_npy_layouts(tmp_path):
    rng = np.random.default_rng(0)
    img, txt = rng.standard_normal((2, 5, 3)).astype(np.float32)
    np.save(tmp_path / "stack.npy", np.stack([img, txt]))
    np.save(tmp_path / "i.npy", img)
    np.save(tmp_path / "t.npy", txt)
    for s in (load_set(tmp_path / "stack.npy"), load_pair(tmp_path / "i.npy", tmp_path / "t.npy")):
        np.testing.assert_array_equal(s.image, img)
        np.testing.assert_array_equal(s.text_image, np.arange(5))


def _bad(tmp_path, name, **arrays):
    path = tmp_path / name
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(image=np.ones((3, 4)), text=np.ones((3, 5)), text_image=np.arange(3)), "dimension mismatch"),
        (dict(image=np.full((3, 4), np.nan), text=np.ones((3, 4)), text_image=np.arange(3)), "NaN or Inf"),
        (dict(image=np.zeros((3, 4)), text=np.ones((3, 4)), text_image=np.arange(3)), "all-zero"),
        (dict(image=np.ones((3, 4)), text=np.ones((3, 4)), text_image=np.array([0, 1, 7])), "outside [0, 3)"),
        (dict(image=np.ones((0, 4)), text=np.ones((0, 4)), text_image=np.zeros(0, int)), "both 'image' and 'text' are empty"),
        (dict(image=np.ones((3, 4)), text=np.ones((2, 4))), "missing 'text_image'"),
        (dict(text=np.ones((2, 4))), "missing array"),
        (dict(image=np.ones((3, 4), int), text=np.ones((3, 4)), text_image=np.arange(3)), "dtype int"),
    ],
)
def test_bad_sets_name_file_and_problem(tmp_path, arrays, message):
    path = _bad(tmp_path, "bad.npz", **arrays)
    with pytest.raises(InputError) as err:
        load_set(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_pickle_is_refused(tmp_path):
    path = tmp_path / "p.npz"
    with open(path, "wb") as fh:
        np.savez(fh, image=np.array([{"evil": 1}], dtype=object), text=np.ones((1, 2)))
    with pytest.raises(InputError, match="pickled"):
        load_set(path)


def test_truncated_and_wrong_files(tmp_path):
    good = save_set(planted_gap(10, 4), tmp_path / "g.npz")
    (tmp_path / "trunc.npz").write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_set(tmp_path / "trunc.npz")
    with pytest.raises(InputError, match="no such file"):
        load_set(tmp_path / "missing.npz")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unsupported extension"):
        load_set(tmp_path / "x.csv")
    np.save(tmp_path / "s3.npy", np.ones((3, 4, 2)))
    with pytest.raises(InputError, match=r"\(2, N, D\) stack"):
        load_set(tmp_path / "s3.npy")


def test_failed_save_leaves_previous_file(tmp_path):
    path = save_set(planted_gap(10, 4), tmp_path / "s.npz")
    before = path.read_bytes()
    with pytest.raises(InputError):
        save_set(planted_gap(10, 4), tmp_path / "s.npy")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]


def test_from_pairs_checks_row_counts():
    with pytest.raises(InputError, match="same number of rows"):
        from_pairs(np.ones((3, 2)), np.ones((4, 2)))


def test_meta_must_be_json(tmp_path):
    path = _bad(tmp_path, "m.npz", image=np.ones((2, 3)), text=np.ones((2, 3)),
                text_image=np.arange(2), meta=np.array("{not json"))
    with pytest.raises(InputError, match="not valid JSON"):
        load_set(path)
    assert json.loads(str(np.array(json.dumps({"a": 1})))) == {"a": 1}
    assert zipfile.is_zipfile(path)


def test_text_only_set_keeps_one_image_id_per_caption_group(tmp_path):
    text = np.eye(4, dtype=np.float32) + 1
    s = EmbeddingSet(image=np.zeros((0, 4), np.float32), text=text, text_image=np.array([0, 0, 1, 2]),
                     image_id=np.array(["a.jpg", "b.jpg", "c.jpg"]))
    back = load_set(save_set(s, tmp_path / "t.npz"))
    assert back.n_groups == 3 and list(back.image_id) == ["a.jpg", "b.jpg", "c.jpg"]
    with pytest.raises(InputError, match=r"'image_id' must have shape \(3,\)"):
        s.replace(image_id=np.array(["a.jpg"]))
    with pytest.raises(InputError, match="negative index -1"):
        s.replace(text_image=np.array([0, -1, 1, 2]))


def test_one_caption_per_image_draws_own_captions_uniformly():
    s = planted_gap(4, 8, captions_per_image=3)
    s = s.replace(text=s.text[:9], text_image=s.text_image[:9])  # image 3 has no caption
    counts = np.zeros(9)
    for seed in range(600):
        chosen = s.one_caption_per_image(np.random.default_rng(seed))
        assert chosen[3] == -1 and all(s.text_image[chosen[:3]] == [0, 1, 2])
        np.add.at(counts, chosen[:3], 1)
    assert counts.min() > 150  # each of an image's 3 captions ~200 times of 600
