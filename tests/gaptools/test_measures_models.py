"""The gap across model families: real paired embeddings of ConVIRT, VideoCLIP and CLASP,
trained and randomly initialised ('Mind the Gap' Fig. 1 panels, ../shared/data/modality_gap_models).
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gaptools import metrics as M
from gaptools.cli.main import app
from gaptools.io import load_set
from gaptools.measure import measure

#: file stem -> (pairs, dimension), as the data README states
MODELS = {
    "convirt": (500, 512),
    "videoclip": (100, 768),
    "clasp": (99, 768),
}
FILES = [f"features_{name}{suffix}.npy" for name in MODELS for suffix in ("", "_random")]


@pytest.fixture
def models_dir(shared_data):
    folder = shared_data / "modality_gap_models"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return folder


@pytest.mark.parametrize("name", FILES)
def test_every_trained_and_random_model_shows_a_gap(models_dir, name):
    s = load_set(models_dir / name)
    model = name.removeprefix("features_").removesuffix(".npy").removesuffix("_random")
    assert (s.n_image, s.dim) == MODELS[model] and s.n_text == s.n_image
    r = measure(s, bootstrap=200, seed=0, max_points=500)["metrics"]
    gap, (lo, hi) = r["centroid_gap"]["value"], r["centroid_gap"]["ci95"]
    assert lo <= gap <= hi
    assert lo > 0.5, f"{name}: centroid gap {gap:.3f} [{lo:.3f}, {hi:.3f}]"
    # the null: the same points with the modality labels shuffled sit on top of each other
    rng = np.random.default_rng(0)
    pooled = np.concatenate([s.image, s.text])[rng.permutation(2 * s.n_image)]
    assert M.centroid_gap(pooled[: s.n_image], pooled[s.n_image:]) < 0.25 * gap
    # Liang et al.: the two modalities are linearly separable, trained or not
    assert r["linear_separability"]["value"] > 0.95
    # the split of the Fréchet distance holds on real data too
    parts = r["frechet_mean_term"]["value"] + r["frechet_cov_term"]["value"]
    assert parts == pytest.approx(r["frechet"]["value"], rel=1e-5)


def test_measure_puts_the_model_families_side_by_side(models_dir, tmp_path):
    paths = [models_dir / name for name in FILES]
    out = tmp_path / "families.json"
    result = CliRunner().invoke(app, ["measure", *map(str, paths), "--bootstrap", "50", "--json", str(out)])
    assert result.exit_code == 0, result.output
    sets = json.loads(out.read_text())["sets"]
    assert [s["source"] for s in sets] == [str(p) for p in paths]
    assert [(s["n_image"], s["dim"]) for s in sets] == [MODELS[n] for n in MODELS for _ in range(2)]
    for path, s in zip(paths, sets):
        stack = np.load(path)
        alone = M.centroid_gap(M.l2_normalize(stack[0]), M.l2_normalize(stack[1]))
        assert s["metrics"]["centroid_gap"]["value"] == pytest.approx(alone, rel=1e-6), path.name
