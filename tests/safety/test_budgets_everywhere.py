"""Nothing unbounded (issue 31, items 3, 4 and 6): size-like parameters meet the memory budget first.

Each case below allocated without a check before (memory growing at ~50 MB/s, torch asked for
2 TB) or ended in "Unexpected error": the diffusion bridge's sizes at fit and from a fitted
file's header at apply, a seed of 2**64, a run's model config (the mapper's prefix length, the
decoder's width), from the command line and from Python alike. And two small things: staging
folders a killed ``world generate`` left behind, and a negative noise estimate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gaptools.align import fit_on_set, load_aligner, make_aligner, save_aligner
from gaptools.align.persist import _digests
from gaptools.cli.main import app
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, load_set, save_set

pytest.importorskip("diffusers")

TINY_BRIDGE = {"train_steps": 5, "width": 8, "blocks": 1}
SIZES = [("diffusion_steps", 10**9, "noise schedule"), ("width", 10**9, "denoiser's weights"),
         ("blocks", 10**9, "denoiser's weights")]


@pytest.mark.parametrize("key, value, what", SIZES)
def test_bridge_sizes_at_fit_meet_the_budget_from_cli_and_python(sweep, planted, tmp_path, key, value, what):
    out = tmp_path / "b.aligner"
    result = sweep.invoke(app, "align", "fit", planted, "-m", "diffusion-bridge", "-p", f"{key}={value}", "-o", out)
    sweep.refused(result, "diffusion-bridge.fit", what, "memory budget")
    assert not out.exists()
    with pytest.raises(InputError, match="memory budget"):
        fit_on_set("diffusion-bridge", load_set(planted), {**TINY_BRIDGE, key: value})


@pytest.mark.parametrize("key, value, what", SIZES[:1] + [("width", 10**9, "denoiser's weights")])
def test_bridge_sizes_from_a_fitted_header_meet_the_budget_at_apply(sweep, planted, tmp_path, key, value, what):
    """A header whose checksums were recomputed (or an old file without them): the budget still holds."""
    good = save_aligner(fit_on_set("diffusion-bridge", load_set(planted), TINY_BRIDGE), tmp_path / "b.aligner")
    with np.load(good, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["header"]))
    header["params"][key] = value
    header["sha256"] = _digests(header, {k: v for k, v in arrays.items() if k != "header"})
    arrays["header"] = np.array(json.dumps(header))
    bad = tmp_path / "big.aligner"
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays)
    result = sweep.invoke(app, "align", "apply", bad, planted, "-o", tmp_path / "out.npz")
    sweep.refused(result, "big.aligner", what, "memory budget")
    with pytest.raises(InputError, match="memory budget"):
        load_aligner(bad)


def test_a_seed_of_2_to_the_64_is_one_line(sweep, planted, tmp_path):
    """torch's "Overflow when unpacking long long" before."""
    result = sweep.invoke(app, "align", "fit", planted, "-m", "diffusion-bridge", "-p", f"seed={2**64}",
                          "-o", tmp_path / "b.aligner")
    sweep.refused(result, "seed must be in [0, 4294967295]")
    with pytest.raises(InputError, match="seed must be in"):
        make_aligner("diffusion-bridge", {"seed": 2**64}).fit(np.eye(4), np.eye(4))


def test_a_run_model_config_meets_the_budget_from_cli_and_python(sweep, caption_files, tmp_path):
    """--prefix-length 1e9 asked torch for the mapper; a decoder config of n_embd 1e7 for the decoder."""
    from gaptools.caption.model import ClipCapConfig, ClipCapModel, decoder_from_config, load_decoder
    from gaptools.cli.caption import app as caption_app

    out = tmp_path / "run"
    args = sweep.train_args(caption_files["decoder"])
    args[args.index("--prefix-length") + 1] = str(10**9)
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", out, *args)
    sweep.refused(result, "mapper", "memory budget")
    decoder = load_decoder(caption_files["decoder"])
    with pytest.raises(InputError, match="memory budget"):
        ClipCapModel(ClipCapConfig(clip_dim=8, prefix_length=10**9), decoder)
    config = decoder.config.to_dict()
    with pytest.raises(InputError, match="memory budget"):
        decoder_from_config({**config, "n_embd": 10**7, "n_head": 1})
    with pytest.raises(InputError, match="unknown decoder model_type"):
        decoder_from_config({**config, "model_type": "warp-lm"})


# --------------------------------------------------------------------- issue 31, item 6


_HOLD = """
import sys, time
from gaptools.outputs import building_folder, run_lock
out = sys.argv[1]
with building_folder(out, kind=None) as tmp, run_lock(tmp, command="world generate"):
    (tmp / "images").mkdir()
    (tmp / "images" / "000000.png").write_bytes(b"x" * 1000)
    print(tmp, flush=True)
    time.sleep(600)
"""


def _holder(out: Path) -> tuple[subprocess.Popen, Path]:
    """A process that stages ``out`` as `world generate` does and holds it; and its staging folder."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    return proc, Path(proc.stdout.readline().strip())


def test_world_generate_removes_what_a_killed_run_left_and_nothing_live(tmp_path):
    from gaptools.world import WorldParams, generate_world

    out = tmp_path / "wk4"
    killed, left = _holder(out)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    live, running = _holder(out)
    try:
        (tmp_path / ".wk4.notours.tmp").mkdir()  # another name pattern: not ours to touch
        (tmp_path / ".wk44.abcdefgh.tmp").mkdir()  # another world's staging name
        assert left.is_dir() and running.is_dir()
        assert generate_world(out, WorldParams(n_images=12, seed=2, n_val=2, n_test=2)) is True
        assert not left.exists(), "the killed run's staging folder is still there"
        assert running.is_dir(), "a live run's staging folder was removed"
        assert (tmp_path / ".wk4.notours.tmp").is_dir() and (tmp_path / ".wk44.abcdefgh.tmp").is_dir()
    finally:
        live.kill()
        live.wait()


def test_a_noise_estimate_below_zero_is_clipped_and_said(sweep, caption_files, tmp_path):
    """Pairs with image = text recorded −4.7e−11 as the variance of the training noise."""
    from gaptools.cli.caption import app as caption_app
    from gaptools.measure import noise_variance_estimate

    x = np.random.default_rng(1).normal(size=(6, 8))
    same = EmbeddingSet(image=x, text=np.repeat(x, 2, axis=0), text_image=np.repeat(np.arange(6), 2))
    estimate = noise_variance_estimate(same, bootstrap=50)
    assert estimate["raw_value"] < 0 and estimate["value"] == 0.0 and min(estimate["ci95"]) >= 0
    assert "clipped at 0" in estimate["note"]
    pairs = save_set(same, tmp_path / "same.npz")
    start = time.perf_counter()
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", tmp_path / "run",
                          *sweep.train_args(caption_files["decoder"]), "--noise-variance", "auto",
                          "--noise-pairs", pairs)
    assert result.exit_code == 0, result.output
    assert "clipped at 0" in " ".join(result.output.split()), (result.output, time.perf_counter() - start)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["noise_variance"] == 0.0


@pytest.mark.parametrize("method", ["ot-exact", "ot-sinkhorn"])
def test_an_ot_fit_meets_the_budget_before_its_cost_matrix(sweep, planted, tmp_path, monkeypatch, method):
    """max_fit_points sizes an (n, m) float64 cost matrix: checked from the CLI and Python before POT allocates."""
    from gaptools.limits import ENV

    monkeypatch.setenv(ENV, "64K")  # the 40 x 80 matrices of the planted set need ~77 KiB
    result = sweep.invoke(app, "align", "fit", planted, "-m", method, "-o", tmp_path / "ot.aligner")
    sweep.refused(result, f"{method}.fit", "cost matrix", "max_fit_points", "memory budget")
    with pytest.raises(InputError, match="cost matrix"):
        fit_on_set(method, load_set(planted))
    monkeypatch.setenv(ENV, "1M")
    assert fit_on_set(method, load_set(planted), {"max_fit_points": 20}).fit_img_.shape == (20, 8)
