"""Fixtures of the streaming tests: small sharded folders in both layouts."""

from __future__ import annotations

import numpy as np
import pytest

from gaptools.io import EmbeddingSet, save_set


@pytest.fixture
def clip_folder(tmp_path):
    """``make(image, text, sizes, dtype=None, metadata=True, name="clip")``: a clip-retrieval folder of row pairs."""
    from gaptools.stream.shards import write_clip_shard

    def make(image, text, sizes, *, dtype=None, metadata=True, name="clip", width=1):
        root = tmp_path / name
        start = 0
        for k, n in enumerate(sizes):
            rows = slice(start, start + n)
            columns = {"caption": [f"caption {i}" for i in range(start, start + n)]} if metadata else None
            write_clip_shard(root, str(k).zfill(width), image[rows], text[rows], metadata=columns, dtype=dtype)
            start += n
        assert start == len(image)
        return root

    return make


@pytest.fixture
def set_folder(tmp_path):
    """``make(eset, image_sizes, name="sets")``: a folder of ``.npz`` sets, each a run of images with their captions."""

    def make(eset: EmbeddingSet, image_sizes, *, name="sets"):
        root = tmp_path / name
        root.mkdir()
        start = 0
        for k, n in enumerate(image_sizes):
            captions = np.flatnonzero((eset.text_image >= start) & (eset.text_image < start + n))
            part = EmbeddingSet(image=eset.image[start:start + n], text=eset.text[captions],
                                text_image=eset.text_image[captions] - start, meta={"part": k})
            save_set(part, root / f"part-{k}.npz")
            start += n
        assert start == eset.n_image
        return root

    return make
