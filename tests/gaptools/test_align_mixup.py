"""gaptools.mixup and the per-set mixup that `align apply --mixup` uses."""

import numpy as np
import pytest

import gaptools
from gaptools.errors import InputError
from gaptools.metrics import l2_normalize
from gaptools.mixing import mixup_set
from gaptools.synthetic import planted_gap


def test_mixup_endpoints_and_midpoint():
    s = planted_gap(100, 16, shift=0.8)
    np.testing.assert_allclose(gaptools.mixup(s.image, s.text, 0), s.image, atol=1e-6)
    np.testing.assert_allclose(gaptools.mixup(s.image, s.text, 1.0), s.text, atol=1e-6)
    e = np.eye(4, dtype=np.float32)
    half = gaptools.mixup(e[:2], e[2:], 0.5)  # orthogonal unit pairs: (a + b)/sqrt(2)
    np.testing.assert_allclose(half, (e[:2] + e[2:]) / np.sqrt(2), atol=1e-7)
    quarter = gaptools.mixup(e[:1], e[1:2], 0.25)
    np.testing.assert_allclose(quarter, l2_normalize(np.array([[0.75, 0.25, 0, 0]])), atol=1e-7)


@pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan"), "half"])
def test_lambda_outside_zero_one_is_refused(lam):
    s = planted_gap(5, 4)
    with pytest.raises(InputError, match="lambda"):
        gaptools.mixup(s.image, s.text, lam)


def test_rows_must_pair_up_and_must_not_cancel():
    s = planted_gap(5, 4)
    with pytest.raises(InputError, match="same shape"):
        gaptools.mixup(s.image, s.text[:3], 0.5)
    with pytest.raises(InputError, match="cancel out in row 0"):
        gaptools.mixup(s.image[:1], -s.image[:1], 0.5)


def test_mixup_set_uses_one_own_caption_per_image_with_a_seed():
    s = planted_gap(60, 8, captions_per_image=3, shift=0.7)
    s = s.replace(image=np.concatenate([s.image, s.image[:1] * -1]))  # one image without captions
    mixed = mixup_set(s, 0.3, seed=7)
    record = mixed.meta["mixup"]
    chosen = np.array(record["caption_of_image"])
    assert record["lambda"] == 0.3 and record["seed"] == 7 and chosen[-1] == -1
    assert (s.text_image[chosen[:-1]] == np.arange(60)).all()  # each image's own caption
    np.testing.assert_allclose(mixed.image[:-1], gaptools.mixup(s.image[:-1], s.text[chosen[:-1]], 0.3), atol=1e-7)
    np.testing.assert_array_equal(mixed.image[-1], s.image[-1])
    np.testing.assert_array_equal(mixed.text, s.text)
    assert mixup_set(s, 0.3, seed=7).meta["mixup"] == record
    assert mixup_set(s, 0.3, seed=8).meta["mixup"]["caption_of_image"] != record["caption_of_image"]


def test_import_gaptools_stays_light():
    import subprocess
    import sys

    code = ("import sys, gaptools; gaptools.mixup; import gaptools.align; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ot', 'scipy', 'sklearn', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
