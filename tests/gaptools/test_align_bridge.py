"""The diffusion-bridge aligner: known answers of its start step on planted data, its schedule,
determinism, saved files, and bad input (library and command line)."""

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from gaptools.align import load_aligner, make_aligner, save_aligner
from gaptools.cli.main import app
from gaptools.errors import GapToolsError, InputError
from gaptools.io import from_pairs, load_set, save_set
from gaptools.metrics import centroid_gap, l2_normalize, matched_cosine, recall_at_k

#: A denoiser small enough to train in a few seconds on the 32-d mixture.
SMALL = {"train_steps": 300, "width": 64, "batch_size": 128}
DIM, CLUSTERS = 32, 8
OFFSET = 0.8  # the planted image offset along coordinate 0


def mixture(n, seed):
    """Captions from a known mixture (8 unit centres, spread 0.3/sqrt(D) per coordinate) and their
    images: caption + a fixed offset along coordinate 0 + noise of 0.5/sqrt(D) per coordinate."""
    centres = l2_normalize(np.random.default_rng(0).standard_normal((CLUSTERS, DIM)))
    rng = np.random.default_rng(seed)
    text = l2_normalize(centres[rng.integers(CLUSTERS, size=n)] + 0.3 * rng.standard_normal((n, DIM)) / np.sqrt(DIM))
    offset = np.zeros(DIM)
    offset[0] = OFFSET
    image = l2_normalize(text + offset + 0.5 * rng.standard_normal((n, DIM)) / np.sqrt(DIM))
    return image, text


@pytest.fixture(scope="module")
def planted():
    """(fitted bridge, fit images, fit texts, held-out images, held-out texts); row i a pair."""
    img, txt = mixture(2000, 1)
    held_img, held_txt = mixture(400, 2)
    return make_aligner("diffusion-bridge", SMALL).fit(img, txt), img, txt, held_img, held_txt


def with_params(aligner, **params):
    """The fitted ``aligner`` with apply-time parameters changed (the ``bridge`` fixture restores them)."""
    for key, value in params.items():
        setattr(aligner, key, value)
    return aligner


@pytest.fixture
def bridge(planted):
    aligner = planted[0]
    saved = {k: getattr(aligner, k) for k in ("start_step", "sampling_steps", "add_noise", "renormalize")}
    yield aligner
    with_params(aligner, **saved)


def collapse_map(x, mean_from, mean_to):
    """The C3 collapse with one modality's mean, then back with the other's (derived here, not imported)."""
    c = l2_normalize(l2_normalize(x).astype(np.float64) - mean_from)
    return l2_normalize(np.sqrt(1 - mean_to @ mean_to) * c + mean_to)


def test_start_step_zero_is_the_collapse_map_alone_both_ways(planted, bridge):
    _, img, txt, held_img, held_txt = planted
    mean_img, mean_txt = img.astype(np.float64).mean(0), txt.astype(np.float64).mean(0)  # unit rows already
    with_params(bridge, start_step=0)
    np.testing.assert_allclose(bridge.transform(held_img), collapse_map(held_img, mean_img, mean_txt), atol=2e-6)
    np.testing.assert_allclose(bridge.inverse_transform(held_txt), collapse_map(held_txt, mean_txt, mean_img), atol=2e-6)


def test_denoising_brings_images_closer_to_their_own_captions(bridge, planted):
    # The images are their captions plus an offset (which the collapse removes) and noise of about
    # the captions' own spread around their centre, which only the denoiser removes: matched cosine
    # rises from raw to collapse-only to bridged, and the centroid gap all but closes.
    _, _, _, held_img, held_txt = planted
    raw = matched_cosine(held_img, held_txt)
    collapsed = matched_cosine(with_params(bridge, start_step=0).transform(held_img), held_txt)
    bridged_img = with_params(bridge, start_step=300).transform(held_img)
    bridged = matched_cosine(bridged_img, held_txt)
    assert raw < collapsed - 0.1 and collapsed < bridged - 0.03, (raw, collapsed, bridged)
    assert centroid_gap(bridged_img, held_txt) < 0.1 * centroid_gap(held_img, held_txt)


def test_at_the_last_step_with_noise_the_output_forgets_the_input(bridge, planted):
    # add_noise: x_{t*} = sqrt(ᾱ)·x + sqrt(1 − ᾱ)·ε with sqrt(ᾱ) = 0.0016 at step 998 of the cosine
    # chain, so two different image sets give (almost) the same outputs, and retrieval is at chance.
    _, img, _, held_img, held_txt = planted
    with_params(bridge, start_step=bridge.diffusion_steps - 1, add_noise=True)
    out, other = bridge.transform(held_img), bridge.transform(img[:len(held_img)])
    assert np.abs(out - other).max() < 0.02
    assert recall_at_k(out, held_txt)["recall@1_i2t"] < 0.02  # chance: 1/400
    # without noise (the released code's reading) the image is the sample itself: the output follows it
    with_params(bridge, add_noise=False)
    assert np.abs(bridge.transform(held_img) - bridge.transform(img[:len(held_img)])).max() > 0.5


def test_the_reverse_schedule_visits_the_released_codes_steps(bridge):
    with_params(bridge, start_step=600, sampling_steps=5)
    ddim = bridge.reverse_schedule()
    assert ddim.timesteps.tolist() == [599, 479, 359, 239, 119]  # their linspace(-1, 599, 6), reversed
    with_params(bridge, start_step=3, sampling_steps=10)
    assert bridge.reverse_schedule().timesteps.tolist() == [2, 1, 0]  # capped at start_step


def test_more_sampling_steps_than_start_step_are_capped(bridge, planted):
    held_img = planted[3]
    capped = with_params(bridge, start_step=3, sampling_steps=10).transform(held_img)
    np.testing.assert_array_equal(capped, with_params(bridge, sampling_steps=3).transform(held_img))


def test_without_renormalising_the_output_minus_the_text_mean_is_the_collapsed_form(bridge, planted):
    held_img = planted[3]
    out = with_params(bridge, renormalize=False).transform(held_img).astype(np.float64)
    radius = np.sqrt(1 - bridge.mean_txt_ @ bridge.mean_txt_)
    np.testing.assert_allclose(np.linalg.norm(out - bridge.mean_txt_, axis=1), radius, rtol=1e-5)


def test_fit_reads_the_images_only_for_their_mean(planted):
    fitted, img, txt, _, _ = planted
    shuffled = img[np.random.default_rng(3).permutation(len(img))]
    pairs = np.stack([np.arange(len(txt)), np.arange(len(txt))[::-1]], axis=1)
    other = make_aligner("diffusion-bridge", SMALL).fit(shuffled, txt, pairs)
    for name in fitted.state:
        if name == "mean_img_":
            np.testing.assert_allclose(other.mean_img_, fitted.mean_img_, atol=1e-12)
        else:
            np.testing.assert_array_equal(getattr(other, name), getattr(fitted, name))


def test_applies_and_fits_repeat_exactly_and_the_seed_matters(bridge, planted):
    _, img, txt, held_img, _ = planted
    with_params(bridge, start_step=400, add_noise=True)  # noise drawn at apply time too
    np.testing.assert_array_equal(bridge.transform(held_img), bridge.transform(held_img))
    reseeded = make_aligner("diffusion-bridge", {**SMALL, "seed": 1}).fit(img, txt)
    assert not np.array_equal(reseeded.out_weight_, bridge.out_weight_)


def test_a_saved_bridge_applies_identically_and_a_tampered_file_is_one_error(tmp_path, bridge, planted):
    held_img = planted[3]
    path = save_aligner(bridge, tmp_path / "b.aligner")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert arrays["in_weight_"].shape == (DIM, SMALL["width"]) and arrays["block_weight1_"].dtype == np.float32
    np.testing.assert_array_equal(load_aligner(path).aligner.transform(held_img), bridge.transform(held_img))

    header = json.loads(str(arrays["header"]))
    header.pop("sha256")  # a file from before checksums (with them, any change is named as one): checked by value
    arrays["header"] = np.array(json.dumps(header))
    cases = {
        "array 'in_weight_' has shape (31, 64)": {"in_weight_": arrays["in_weight_"][:31]},
        "array 'block_weight1_' has shape (2, 64, 64)": {"header": np.array(json.dumps({**header, "params": {
            **header["params"], "blocks": 3}}))},
        "array 'out_bias_' is missing": {"out_bias_": None},
        "expected finite floats": {"skip_bias_": np.array([np.nan], dtype=np.float32)},
    }
    for message, change in cases.items():
        bad = {k: v for k, v in {**arrays, **change}.items() if v is not None}
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_aligner(tmp_path / "bad.npz")
    (tmp_path / "cut.aligner").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_aligner(tmp_path / "cut.aligner")


@pytest.mark.parametrize("params, message", [
    ({"start_step": -1}, "start_step must be an integer >= 0"),
    ({"start_step": 1000}, r"start_step must be in \[0, 1000\)"),
    ({"start_step": 50, "diffusion_steps": 50}, r"start_step must be in \[0, 50\)"),
    ({"sampling_steps": 0}, "sampling_steps must be an integer >= 1"),
    ({"scale": 0}, "scale must be a positive finite number"),
    ({"scale": -5.0}, "scale must be a positive finite number"),
    ({"ema_decay": 1.0}, r"ema_decay must be in \[0, 1\)"),
    ({"start_step": 2.5}, "start_step must be an integer"),
])
def test_bad_parameters_are_refused_at_fit(params, message):
    img, txt = mixture(20, 1)
    with pytest.raises(InputError, match=message):
        make_aligner("diffusion-bridge", {**SMALL, **params}).fit(img, txt)


def test_fewer_than_two_texts_are_refused():
    img, txt = mixture(20, 1)
    with pytest.raises(InputError, match="at least 2 caption embeddings"):
        make_aligner("diffusion-bridge", SMALL).fit(img, txt[:1])


def test_without_diffusers_one_error_names_the_extra(monkeypatch):
    img, txt = mixture(20, 1)
    monkeypatch.setitem(sys.modules, "diffusers", None)  # what `import diffusers` meets when it is not installed
    with pytest.raises(GapToolsError, match="needs torch and diffusers") as info:
        make_aligner("diffusion-bridge", SMALL).fit(img, txt)
    assert info.value.hint == "pip install 'gaptools[bridge]'"


# ----------------------------------------------------------------------------- command line

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bridge_sets")
    img, txt = mixture(600, 1)
    held_img, held_txt = mixture(200, 2)
    return (save_set(from_pairs(img, txt, source="fit"), folder / "fit.npz"),
            save_set(from_pairs(held_img, held_txt, source="held"), folder / "held.npz"))


def test_align_fit_then_apply_closes_the_held_out_gap(tmp_path, sets):
    fit, held = sets
    small = [a for k, v in SMALL.items() for a in ("-p", f"{k}={v}")]
    result = invoke("align", "fit", "-m", "diffusion-bridge", fit, *small, "-p", "start_step=300",
                    "-o", tmp_path / "b.aligner")
    assert result.exit_code == 0, result.output
    result = invoke("align", "apply", tmp_path / "b.aligner", held, "-o", tmp_path / "out.npz")
    assert result.exit_code == 0, result.output
    before, after = load_set(held), load_set(tmp_path / "out.npz")
    assert centroid_gap(after.image, after.text) < 0.5 * centroid_gap(before.image, before.text)
    assert matched_cosine(after.image, after.text) > matched_cosine(before.image, before.text)


def test_align_fit_seed_is_the_bridges_seed(tmp_path, sets):
    small = [a for k, v in {**SMALL, "train_steps": 5}.items() for a in ("-p", f"{k}={v}")]
    result = invoke("align", "fit", "-m", "diffusion-bridge", sets[0], *small, "--seed", "7", "-o", tmp_path / "b.aligner")
    assert result.exit_code == 0, result.output
    assert load_aligner(tmp_path / "b.aligner").aligner.get_params()["seed"] == 7


@pytest.mark.parametrize("param, message", [
    ("start_step=1000", "start_step must be in [0, 1000)"),
    ("sampling_steps=0", "sampling_steps must be an integer >= 1"),
    ("scale=0", "scale must be a positive finite number"),
])
def test_bad_parameters_on_the_command_line_are_one_line_exit_2_nothing_written(tmp_path, sets, param, message):
    result = invoke("align", "fit", "-m", "diffusion-bridge", sets[0], "-p", param, "-o", tmp_path / "b.aligner")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_one_caption_on_the_command_line_is_one_line_exit_2(tmp_path, sets):
    one = save_set(load_set(sets[0]).replace(text=load_set(sets[0]).text[:1], text_image=np.zeros(1, np.int64)),
                   tmp_path / "one.npz")
    result = invoke("align", "fit", "-m", "diffusion-bridge", one, "-o", tmp_path / "b.aligner")
    assert result.exit_code == 2, result.output
    assert "at least 2 caption embeddings" in " ".join(result.output.split())
    assert not (tmp_path / "b.aligner").exists()


def test_captions_without_spread_are_refused_and_an_image_at_the_image_mean_maps_to_the_text_mean():
    img, txt = mixture(20, 1)
    with pytest.raises(InputError, match="captions have no spread"):
        make_aligner("diffusion-bridge", SMALL).fit(img, np.repeat(txt[:1], 20, axis=0))
    same = np.repeat(img[:1], 20, axis=0)  # every image one vector: minus the image mean, nothing is left
    aligner = make_aligner("diffusion-bridge", {**SMALL, "start_step": 0}).fit(same, txt)
    mean_txt = txt.astype(np.float64).mean(0)
    np.testing.assert_allclose(aligner.transform(img[:1]), l2_normalize(mean_txt[None]), atol=1e-6)
    assert np.isfinite(with_params(aligner, start_step=600).transform(img[:3])).all()
