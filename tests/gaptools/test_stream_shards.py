"""The sharded-folder reader: clip-retrieval and .npz layouts, header checks, bad shards."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("dask")
pytest.importorskip("distributed")

from gaptools.errors import GapToolsError, InputError  # noqa: E402
from gaptools.stream import engine  # noqa: E402
from gaptools.stream.shards import (  # noqa: E402
    CLIP_RETRIEVAL,
    NPZ_SETS,
    NpyWriter,
    folder_to_set,
    iter_chunks,
    open_folder,
    read_metadata,
)
from gaptools.synthetic import planted_gap  # noqa: E402


@pytest.fixture
def pairs():
    s = planted_gap(230, 12, shift=0.5, seed=3)
    return s.image, s.text


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_clip_reader_reads_every_row_in_order(clip_folder, pairs, dtype):
    image, text = pairs
    root = clip_folder(image, text, [100, 30, 100], dtype=dtype, width=3)  # img_emb_000.npy ...
    folder = open_folder(root)
    assert folder.layout == CLIP_RETRIEVAL and folder.dim == 12
    assert [s.name for s in folder.shards] == ["000", "001", "002"]
    assert [(s.n_image, s.image_offset) for s in folder.shards] == [(100, 0), (30, 100), (100, 130)]
    assert all(s.dtype == np.dtype(dtype).name for s in folder.shards)
    eset = folder_to_set(folder)
    # stored as dtype on disk, upcast to float32 block by block: exactly the values a float32 cast gives
    np.testing.assert_array_equal(eset.image, image.astype(dtype).astype(np.float32))
    np.testing.assert_array_equal(eset.text, text.astype(dtype).astype(np.float32))
    np.testing.assert_array_equal(eset.text_image, np.arange(230))
    assert list(eset.caption[:2]) == ["caption 0", "caption 1"] and eset.caption[-1] == "caption 229"
    table = read_metadata(folder.shards[1])
    assert table.num_rows == 30 and table.column("caption")[0].as_py() == "caption 100"
    blocks = list(iter_chunks(folder.shards[0], block_rows=40))
    assert [len(b.image) for b in blocks] == [40, 40, 20] and blocks[2].group_offset == 80
    assert all(b.image.dtype == np.float32 and b.rows_are_pairs for b in blocks)


def test_shards_sort_by_number_not_by_name(clip_folder, pairs):
    image, text = pairs
    root = clip_folder(image, text, [20] * 11 + [10])  # keys 0..11: "10" sorts before "2" as text
    assert [s.name for s in open_folder(root).shards] == [str(k) for k in range(12)]


def test_metadata_is_optional_as_a_whole(clip_folder, pairs):
    image, text = pairs
    folder = open_folder(clip_folder(image, text, [230], metadata=False))
    assert folder.shards[0].metadata is None and folder_to_set(folder).caption is None


def test_folder_of_npz_sets_keeps_each_sets_grouping(set_folder):
    eset = planted_gap(60, 8, captions_per_image=3, seed=1)
    root = set_folder(eset, [25, 35])
    folder = open_folder(root)
    assert folder.layout == NPZ_SETS and (folder.n_image, folder.n_text) == (60, 180)
    assert [(s.image_offset, s.text_offset) for s in folder.shards] == [(0, 0), (25, 75)]
    whole = folder_to_set(folder)
    np.testing.assert_array_equal(whole.image, eset.image)
    np.testing.assert_array_equal(whole.text_image, eset.text_image)
    one = open_folder(root / "part-1.npz")  # one set streams as a folder of one shard
    assert len(one.shards) == 1 and one.n_image == 35


def test_npy_writer_matches_np_save_and_is_atomic(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    with NpyWriter(tmp_path / "a.npy", x.shape, np.float16) as out:
        out.write(x[:4])
        out.write(x[4:])
    np.save(tmp_path / "b.npy", x.astype(np.float16))
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    with pytest.raises(ValueError, match="rows written"):
        with NpyWriter(tmp_path / "c.npy", x.shape, np.float32) as out:
            out.write(x[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy"]  # no c.npy, no temporary


# --------------------------------------------------------------------------- bad shards


def _break(root, how):
    img, txt = root / "img_emb", root / "text_emb"
    if how == "missing partner":
        (txt / "text_emb_1.npy").unlink()
        return "shard 1: img_emb/img_emb_1.npy"
    if how == "mismatched rows":
        np.save(txt / "text_emb_1.npy", np.ones((7, 12), np.float32))
        return "has 50 rows but"
    if how == "mismatched dims":
        np.save(img / "img_emb_2.npy", np.ones((80, 6), np.float32))
        np.save(txt / "text_emb_2.npy", np.ones((80, 6), np.float32))
        return "differ in dimension"
    if how == "truncated":
        data = (img / "img_emb_0.npy").read_bytes()
        (img / "img_emb_0.npy").write_bytes(data[:-100])
        return "truncated"
    if how == "not npy":
        (img / "img_emb_0.npy").write_bytes(b"garbage")
        return "not a readable .npy"
    if how == "pickled":
        np.save(img / "img_emb_0.npy", np.array([{"a": 1}] * 100, dtype=object), allow_pickle=True)
        return "pickled objects"
    if how == "integer dtype":
        np.save(img / "img_emb_0.npy", np.ones((100, 12), np.int32))
        return "expected float16, float32 or float64"
    if how == "metadata rows":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"caption": ["x"] * 3}), root / "metadata" / "metadata_2.parquet")
        return "has 3 rows but the embeddings have 80"
    if how == "corrupt parquet":
        (root / "metadata" / "metadata_0.parquet").write_bytes(b"PAR1 broken")
        return "corrupt parquet"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing partner", "mismatched rows", "mismatched dims", "truncated", "not npy",
                                 "pickled", "integer dtype", "metadata rows", "corrupt parquet"])
def test_bad_shards_are_named_before_any_work(clip_folder, pairs, how):
    image, text = pairs
    root = clip_folder(image, text, [100, 50, 80])
    expected = _break(root, how)
    with pytest.raises(InputError, match="bad shard") as info:
        open_folder(root)
    assert expected in info.value.message and "\n" not in info.value.message


def test_every_bad_shard_in_one_message(clip_folder, pairs):
    image, text = pairs
    root = clip_folder(image, text, [100, 50, 80])
    (root / "text_emb" / "text_emb_0.npy").unlink()
    (root / "img_emb" / "img_emb_2.npy").unlink()
    with pytest.raises(InputError) as info:
        open_folder(root)
    assert "2 bad shard" in info.value.message and "shard 0" in info.value.message and "shard 2" in info.value.message


def test_data_problems_are_named_at_the_shard(clip_folder, pairs):
    image, text = pairs
    image = image.copy()
    image[117, 3] = np.nan
    folder = open_folder(clip_folder(image, text, [100, 130]))  # headers are fine
    next(iter_chunks(folder.shards[0]))
    with pytest.raises(InputError, match=r"img_emb_1\.npy .*NaN or Inf.*first at row 17"):
        list(iter_chunks(folder.shards[1]))


def test_not_a_shard_folder(tmp_path):
    with pytest.raises(InputError, match="no shards found"):
        open_folder(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        open_folder(tmp_path / "nothing")
    (tmp_path / "x.npy").write_bytes(b"")
    with pytest.raises(InputError, match="folder or one .npz"):
        open_folder(tmp_path / "x.npy")


def test_npz_shard_problems(set_folder, tmp_path):
    eset = planted_gap(40, 8, captions_per_image=2, seed=1)
    root = set_folder(eset, [20, 20])
    (root / "part-1.npz").write_bytes((root / "part-1.npz").read_bytes()[:200])
    with pytest.raises(InputError, match=r"part-1\.npz: corrupt or truncated"):
        open_folder(root)


def test_a_dimension_over_the_memory_budget_is_refused_from_the_headers(clip_folder, pairs, monkeypatch):
    image, text = pairs
    root = clip_folder(image, text, [230])
    monkeypatch.setenv("GAPTOOLS_MEMORY_LIMIT", "1K")  # 12 x 12 float64 matrices and their copies exceed it
    with pytest.raises(InputError, match="12 x 12"):
        open_folder(root)


def test_missing_extra_is_one_line_naming_it(monkeypatch):
    real = engine.importlib.util.find_spec
    monkeypatch.setattr(engine.importlib.util, "find_spec", lambda name: None if name == "distributed" else real(name))
    with pytest.raises(GapToolsError) as info:
        engine.require_scale()
    assert "distributed" in info.value.message and info.value.hint == "pip install 'gaptools[scale]'"
