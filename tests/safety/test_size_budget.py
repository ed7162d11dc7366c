"""Size budget: declared sizes are checked against a memory budget before anything is read or allocated.

Before ``gaptools.limits`` a zip bomb was decompressed before being refused, a header claiming
hundreds of GiB gave MemoryError ("Unexpected error"), D = 100,000 asked for tens of GiB and
``--bootstrap 100000000`` had no bound.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from gaptools.cli.main import app
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, load_set, read_npz, save_set
from gaptools.limits import ENV, MAX_BOOTSTRAP, memory_limit
from gaptools.synthetic import planted_gap


def _npy_bytes(array=None, *, header_shape=None, dtype="<f4") -> bytes:
    """An .npy file's bytes; with ``header_shape`` the header claims that shape whatever data follows."""
    buf = io.BytesIO()
    if header_shape is None:
        np.save(buf, array, allow_pickle=False)
    else:
        np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": header_shape})
        buf.write(b"\0" * 16)
    return buf.getvalue()


def _npz(path, members: dict[str, bytes], compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)
    return path


@pytest.fixture
def text_part():
    return _npy_bytes(np.ones((2, 4), np.float32))


def test_a_zip_bomb_is_refused_from_its_declared_size_before_decompression(sweep, tmp_path, monkeypatch, text_part):
    bomb = _npz(tmp_path / "bomb.npz", {"image": _npy_bytes(np.zeros((2048, 2048), np.float32)), "text": text_part,
                                        "text_image": _npy_bytes(np.arange(2))}, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 100_000  # 16 MiB of zeros, deflated
    monkeypatch.setenv(ENV, "4M")
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("the data was read"))
    sweep.refused(sweep.invoke(app, "measure", bomb), "bomb.npz", "16.0 MiB, more than the memory budget of 4.0 MiB",
                  ENV)


def test_a_header_claiming_hundreds_of_gib_is_refused(sweep, tmp_path, text_part):
    liar = _npz(tmp_path / "liar.npz", {"image": _npy_bytes(header_shape=(100_000_000, 512)), "text": text_part})
    sweep.refused(sweep.invoke(app, "measure", liar), "liar.npz", "'image' declares shape (100000000, 512)",
                  "190.7 GiB")
    stack = tmp_path / "stack.npy"
    stack.write_bytes(_npy_bytes(header_shape=(2, 10**9, 512)))
    sweep.refused(sweep.invoke(app, "measure", stack), "stack.npy", "declares shape (2, 1000000000, 512)")


def test_a_header_within_the_file_but_over_the_budget_is_refused(sweep, tmp_path, monkeypatch):
    np.save(tmp_path / "stack.npy", np.ones((2, 64, 64), np.float32))
    monkeypatch.setenv(ENV, "16K")
    sweep.refused(sweep.invoke(app, "measure", tmp_path / "stack.npy"),
                  "32.0 KiB, more than the memory budget of 16.0 KiB")


def test_a_huge_dimension_is_refused_before_its_covariance_is_allocated(sweep, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    wide = save_set(EmbeddingSet(image=rng.normal(size=(3, 100_000)).astype(np.float32),
                                 text=rng.normal(size=(3, 100_000)).astype(np.float32), text_image=np.arange(3)),
                    tmp_path / "wide.npz")
    monkeypatch.setenv(ENV, "16G")
    sweep.refused(sweep.invoke(app, "measure", wide), "D = 100000", "more than the memory budget of 16.0 GiB")
    sweep.refused(sweep.invoke(app, "align", "fit", "--method", "coral", wide, "-o", tmp_path / "c.aligner"),
                  "D = 100000")
    assert not (tmp_path / "c.aligner").exists()


def test_options_that_scale_memory_name_themselves(sweep, tmp_path, monkeypatch):
    s = save_set(planted_gap(600, 8), tmp_path / "s.npz")
    monkeypatch.setenv(ENV, "4M")
    sweep.refused(sweep.invoke(app, "measure", s, "--max-points", 600, "--bootstrap", 0), "--max-points 600")


def test_bootstrap_is_bounded_with_the_limit_in_the_message(sweep, planted):
    result = sweep.invoke(app, "measure", planted, "--bootstrap", 100_000_000)
    assert result.exit_code == 2 and f"{MAX_BOOTSTRAP}" in result.output, result.output
    result = sweep.invoke(app, "align", "compare", planted, planted, "--bootstrap", 100_000_000)
    assert result.exit_code == 2 and f"{MAX_BOOTSTRAP}" in result.output, result.output


def test_the_budget_is_raised_or_turned_off_by_the_environment(tmp_path, monkeypatch):
    path = save_set(planted_gap(50, 8), tmp_path / "s.npz")
    monkeypatch.setenv(ENV, "1K")
    with pytest.raises(InputError, match="more than the memory budget of 1.0 KiB"):
        load_set(path)
    for value in ("1G", "2.5M", "0", "none"):
        monkeypatch.setenv(ENV, value)
        assert load_set(path).n_image == 50
    assert memory_limit() is None
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(InputError, match="is not a size"):
        load_set(path)
    monkeypatch.delenv(ENV)
    assert memory_limit() > 0


def test_a_truncated_member_is_named(tmp_path, text_part):
    data = _npy_bytes(np.ones((100, 4), np.float32))
    path = _npz(tmp_path / "cut.npz", {"image": data[:-40], "text": text_part})
    with pytest.raises(InputError, match="corrupt or truncated: array 'image' declares shape \\(100, 4\\)"):
        read_npz(path)
