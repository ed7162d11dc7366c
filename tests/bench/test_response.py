"""bench/response.py: seeded image splits, and the held-out figures on planted data with known answers."""

from pathlib import Path

import numpy as np
import pytest

from gaptools.io import EmbeddingSet, save_set
from gaptools.metrics import l2_normalize
from gaptools.synthetic import planted_gap

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def response(load_bench):
    return load_bench("response")


def test_split_is_by_image_seeded_and_keeps_captions_with_their_image(response):
    eset = planted_gap(41, 8, captions_per_image=3, seed=1)
    fit, held = response.split_by_image(eset, seed=4)
    assert (fit.n_image, held.n_image, fit.n_text, held.n_text) == (20, 21, 60, 63)
    rows = {tuple(np.round(r, 5)) for r in fit.image} | {tuple(np.round(r, 5)) for r in held.image}
    assert len(rows) == 41  # disjoint halves covering every image
    for half in (fit, held):  # each caption still sits with its own image
        for j in range(half.n_text):
            original = np.flatnonzero(np.all(eset.text == half.text[j], axis=1))[0]
            assert np.array_equal(eset.image[eset.text_image[original]], half.image[half.text_image[j]])
    again, _ = response.split_by_image(eset, seed=4)
    other, _ = response.split_by_image(eset, seed=5)
    assert np.array_equal(again.image, fit.image) and not np.array_equal(other.image, fit.image)
    first = eset.first_captions()
    assert first.n_text == 41 and np.array_equal(first.text, eset.text[::3])


def test_a_rotation_is_undone_by_procrustes_and_a_refusal_is_marked(response):
    """Captions = images rotated by a fixed orthogonal R: Procrustes fitted on one half maps the other
    half exactly onto its captions (cos 1, gap 0, R@1 1); before, the rotation costs retrieval."""
    rng = np.random.default_rng(0)
    image = l2_normalize(rng.standard_normal((200, 16)))
    rotation, upper = np.linalg.qr(np.eye(16) + 0.5 * rng.standard_normal((16, 16)))
    rotation *= np.sign(np.diag(upper))  # a proper QR: orthogonal, near the identity's side
    eset = EmbeddingSet(image=image, text=(image @ rotation).astype(np.float32), text_image=np.arange(200))
    fit, held = response.split_by_image(eset, seed=0)
    rows = response.respond(fit, held, ["procrustes", "mean", "no-such-method"])
    assert rows["none"]["r1_kept"] == 1.0 and 0 < rows["none"]["r1"] < 0.5
    assert rows["procrustes"]["cos_after"] == pytest.approx(1, abs=1e-5)
    assert rows["procrustes"]["gap_after"] == pytest.approx(0, abs=1e-5)
    assert rows["procrustes"]["r1_kept"] == pytest.approx(1 / rows["none"]["r1"])
    assert "unknown alignment method" in rows["no-such-method"]["skipped"]


def test_the_mean_shift_closes_a_planted_gap_and_the_table_averages_splits(response):
    table = response.response_table(planted_gap(300, 16, shift=0.8, seed=2), ["mean", "center"], splits=2)
    none, mean = table["rows"]["none"], table["rows"]["mean"]
    assert (table["n_fit"], table["n_held"], table["splits"]) == (150, 150, 2)
    assert mean["gap_after"] < 0.1 * none["gap_after"] and mean["cos_after"] > none["cos_after"]
    assert table["rows"]["center"]["gap_after"] < 0.1 * none["gap_after"]  # it centres both modalities
    assert mean["r1_kept_sd"] >= 0 and none["r1_kept_sd"] == 0
    text = response.format_table({"planted": table})
    assert "| mean | " in text and "R@1 kept, planted" in text


def test_main_prints_threads_machine_and_table(response, tmp_path, capsys):
    path = save_set(planted_gap(60, 8, shift=0.5, seed=3), tmp_path / "planted.npz")
    response.main([str(path), "--methods", "mean,no-such-method", "--splits", "1", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert "thread(s)" in out and "torch threads" in out and "wall" in out
    assert "| mean | " in out and "skipped no-such-method: InputError: unknown alignment method" in out
    assert (tmp_path / "r.json").is_file()
