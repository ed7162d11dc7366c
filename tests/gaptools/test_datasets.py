import json

import numpy as np
import pytest

from gaptools.datasets import (
    group_captions,
    read_caption_map,
    read_coco,
    read_flickr_tokens,
    read_table,
    resolve_images,
)
from gaptools.errors import InputError


def test_official_coco_groups_captions_by_image_in_file_order(tmp_path):
    doc = {"images": [{"id": 7, "file_name": "b.jpg"}, {"id": 3, "file_name": "a.jpg"}],
           "annotations": [{"id": 1, "image_id": 3, "caption": " a cat "}, {"id": 2, "image_id": 7, "caption": "a dog"},
                           {"id": 5, "image_id": 3, "caption": "the cat"}]}
    (tmp_path / "captions_val2014.json").write_text(json.dumps(doc))
    r = read_coco(tmp_path / "captions_val2014.json")
    assert r.image_id == ["7", "3"] and r.image_file == ["b.jpg", "a.jpg"]
    assert r.caption == ["a dog", "a cat", "the cat"]
    assert r.text_image.tolist() == [0, 1, 1]


def _karpathy(tmp_path):
    images = [{"filepath": "val2014", "filename": f"im{i}.jpg", "cocoid": 100 + i, "split": s,
               "sentences": [{"raw": f"caption {i}.{j}"} for j in range(i + 1)]}
              for i, s in enumerate(["train", "restval", "val", "test", "test"])]
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"dataset": "coco", "images": images}))
    return path


def test_karpathy_splits_and_paths(tmp_path):
    path = _karpathy(tmp_path)
    test = read_coco(path, split="test")
    assert test.image_id == ["103", "104"] and test.image_file == ["val2014/im3.jpg", "val2014/im4.jpg"]
    assert test.n_text == 4 + 5 and test.text_image.tolist() == [0] * 4 + [1] * 5
    assert test.split == "test" and test.dataset == "coco"
    assert read_coco(path, split="train+restval").n_image == 2
    assert read_coco(path).n_text == 15
    with pytest.raises(InputError, match="unknown split tset"):
        read_coco(path, split="tset")


@pytest.mark.parametrize("doc, message", [
    ({"images": [{"id": 1, "file_name": "a"}, {"id": 1, "file_name": "b"}], "annotations": []}, "duplicate image id"),
    ({"images": [{"id": 1, "file_name": "a"}], "annotations": [{"id": 1, "image_id": 1, "caption": "x"},
                                                               {"id": 1, "image_id": 1, "caption": "y"}]}, "duplicate annotation id"),
    ({"images": [{"id": 1, "file_name": "a"}], "annotations": [{"id": 1, "image_id": 2, "caption": "x"}]}, "not in 'images'"),
    ({"images": [{"id": 1, "file_name": "a"}], "annotations": [{"id": 1, "image_id": 1, "caption": "  "}]}, "1 empty caption"),
    ({"foo": 1}, "not a COCO captions file"),
])
def test_bad_coco_files_name_the_problem(tmp_path, doc, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message) as err:
        read_coco(path)
    assert str(path) in str(err.value)


def test_flickr_token_file_quirks_and_split(tmp_path):
    (tmp_path / "tok.txt").write_text(
        "a.jpg#0\tA dog .\na.jpg#1\tA brown dog .\n\nb.jpg.1#0\tTwo men\nb.jpg#1\tMen at work\nc.jpg#0\tA cat\n")
    (tmp_path / "test.txt").write_text("c.jpg\nb.jpg\n")
    r = read_flickr_tokens(tmp_path / "tok.txt", split_file=tmp_path / "test.txt")
    assert r.image_id == ["c.jpg", "b.jpg"] and r.caption == ["A cat", "Two men", "Men at work"]
    assert r.text_image.tolist() == [0, 1, 1] and r.split == "test"
    (tmp_path / "bad.txt").write_text("a.jpg#0\tx\na.jpg#0\ty\n")
    with pytest.raises(InputError, match="duplicate caption id"):
        read_flickr_tokens(tmp_path / "bad.txt")
    (tmp_path / "notab.txt").write_text("a.jpg#0 x\n")
    with pytest.raises(InputError, match="line 1 is not"):
        read_flickr_tokens(tmp_path / "notab.txt")
    (tmp_path / "other.txt").write_text("z.jpg\n")
    with pytest.raises(InputError, match="1 image.*no captions.*z.jpg"):
        read_flickr_tokens(tmp_path / "tok.txt", split_file=tmp_path / "other.txt")


def test_real_flickr8k_token_file_and_splits(shared_data):
    folder = shared_data / "flickr8k"
    everything = read_flickr_tokens(folder / "Flickr8k.token.txt")
    assert (everything.n_image, everything.n_text) == (8092, 40460)
    assert np.bincount(everything.text_image).tolist() == [5] * 8092  # the .jpg.1 caption rejoined its image
    assert "2258277193_586949ec62.jpg.1" not in everything.image_id
    counts = {}
    for split in ("train", "dev", "test"):
        r = read_flickr_tokens(folder / "Flickr8k.token.txt", split_file=folder / f"Flickr_8k.{split}Images.txt")
        counts[split] = (r.n_image, r.n_text)
        assert r.split == split
    assert counts == {"train": (6000, 30000), "dev": (1000, 5000), "test": (1000, 5000)}


def test_real_flickr30k_caption_map(shared_data):
    r = read_caption_map(shared_data / "flickr30k_karpathy_test" / "references.json")
    assert (r.n_image, r.n_text) == (1000, 5000)
    assert r.image_id[0] == "1007129816.jpg" and r.caption[0].startswith("The man with pierced ears")
    assert np.bincount(r.text_image).tolist() == [5] * 1000


def test_caption_map_refuses_duplicate_keys_and_bad_values(tmp_path):
    (tmp_path / "d.json").write_text('{"a.jpg": ["x"], "a.jpg": ["y"]}')
    with pytest.raises(InputError, match="duplicate key 'a.jpg'"):
        read_caption_map(tmp_path / "d.json")
    (tmp_path / "v.json").write_text('{"a.jpg": [1]}')
    with pytest.raises(InputError, match="list of caption strings"):
        read_caption_map(tmp_path / "v.json")


def test_csv_and_jsonl_tables_with_chosen_columns(tmp_path):
    (tmp_path / "p.csv").write_text("path,text,other\nx.png,one,1\ny.png,two,2\nx.png,\"three, with comma\",3\n")
    r = read_table(tmp_path / "p.csv", image_column="path", caption_column="text")
    assert r.image_id == ["x.png", "y.png"] and r.caption == ["one", "two", "three, with comma"]
    assert r.text_image.tolist() == [0, 1, 0]
    (tmp_path / "p.jsonl").write_text('{"img": "x.png", "cap": "one"}\n\n{"img": "y.png", "cap": "two"}\n')
    assert read_table(tmp_path / "p.jsonl", image_column="img", caption_column="cap").n_image == 2
    with pytest.raises(InputError, match="no column 'caption'.*columns are path, text, other"):
        read_table(tmp_path / "p.csv", image_column="path")


def test_empty_captions_raise_or_are_skipped():
    entries = [("a", "a", "x", "line 1"), ("a", "a", " ", "line 2"), ("b", "b", "", "line 3"), ("c", "c", "y", "line 4")]
    with pytest.raises(InputError, match="2 empty caption.*line 2, line 3") as err:
        group_captions(entries, dataset="d", source="f.csv")
    assert "--skip-empty" in str(err.value)
    r = group_captions(entries, dataset="d", source="f.csv", skip_empty=True)
    assert r.image_id == ["a", "c"] and r.text_image.tolist() == [0, 1]


def test_resolve_images_reports_missing_and_can_skip_them(tmp_path):
    for name in ("a.png", "c.png"):
        (tmp_path / name).write_bytes(b"x")
    entries = [(n, n, f"cap {n} {j}", "") for n in ("a.png", "b.png", "c.png", "d.png") for j in range(2)]
    records = group_captions(entries, dataset="d", source=str(tmp_path / "ann.csv"))
    with pytest.raises(InputError, match=r"2 of 4 image\(s\) missing, first: .*b.png, .*d.png") as err:
        resolve_images(records, tmp_path)
    assert "--skip-missing" in str(err.value)
    kept, n_missing = resolve_images(records, None, skip_missing=True)  # default root: the annotation's folder
    assert n_missing == 2 and kept.image_id == ["a.png", "c.png"]
    assert kept.caption == ["cap a.png 0", "cap a.png 1", "cap c.png 0", "cap c.png 1"]
    assert kept.text_image.tolist() == [0, 0, 1, 1] and kept.image_file[1] == str(tmp_path / "c.png")
    with pytest.raises(InputError, match="images folder not found"):
        resolve_images(records, tmp_path / "nope")
