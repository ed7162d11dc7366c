"""The toy CLIP: open_clip's CLIP and ClipLoss on a tiny world, checkpoints, resume, export."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from gaptools.errors import InputError
from gaptools.world import WorldParams, generate_world
from gaptools.world.clip import (
    ZIP_TIME,
    TrainSettings,
    build_model,
    export_float16,
    load_toy_clip,
    retrieval_recall,
    train_clip,
)

TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def settings(**kw):
    return TrainSettings(**{"batch_size": 8, "minutes": None, "warmup_steps": 2, "lr": 3e-3, **kw})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("w") / "world"
    generate_world(out, WorldParams(n_images=20, seed=1, n_val=2, n_test=2))  # 16 train: 2 steps per epoch
    return out


@pytest.fixture(scope="module")
def trained(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("clip")
    metrics = train_clip(world, out, settings(max_steps=24), model_config=TINY_CONFIG)
    return out, metrics


def test_training_lowers_the_clip_loss_and_writes_open_clip_files(trained):
    out, metrics = trained
    losses = metrics["loss_per_epoch"]
    assert metrics["steps"] == 24 and metrics["epochs"] == 12 and len(losses) == 12
    assert losses[-1] < losses[0]
    assert json.loads((out / "model.json").read_text()) == TINY_CONFIG
    assert json.loads((out / "metrics.json").read_text())["steps"] == 24
    r = metrics["test_retrieval"]
    assert r["chance_image_to_text"] == pytest.approx(5 / 10) and r["chance_text_to_image"] == pytest.approx(1 / 2)


def test_checkpoint_loads_through_open_clip_like_any_checkpoint(trained):
    import open_clip

    out, _ = trained
    model = open_clip.CLIP(**json.loads((out / "model.json").read_text()))
    open_clip.load_checkpoint(model, str(out / "checkpoint.pt"), strict=True, weights_only=True)
    ours = load_toy_clip(out)
    for (name, a), (_, b) in zip(model.state_dict().items(), ours.state_dict().items()):
        assert torch.equal(a, b), name


def test_unused_token_rows_stay_zero(trained):
    out, _ = trained
    table = load_toy_clip(out).token_embedding.weight  # (49408, width)
    used = (table != 0).any(dim=1)
    assert used[49406] and used[49407]  # start and end of text keep open_clip's ids
    assert 10 < int(used.sum()) < 200


def test_resume_continues_exactly_where_a_run_stopped(world, tmp_path):
    straight = tmp_path / "straight"
    train_clip(world, straight, settings(max_steps=6), model_config=TINY_CONFIG)
    split = tmp_path / "split"
    train_clip(world, split, settings(max_steps=4), model_config=TINY_CONFIG)
    with pytest.raises(InputError, match="a checkpoint is already there"):
        train_clip(world, split, settings(max_steps=6), model_config=TINY_CONFIG)
    metrics = train_clip(world, split, settings(max_steps=6), model_config=TINY_CONFIG, resume=True)
    assert metrics["steps"] == 6
    a, b = load_toy_clip(straight).state_dict(), load_toy_clip(split).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_another_config_or_settings_is_refused(trained, world):
    out, _ = trained
    before = (out / "checkpoint.pt").read_bytes()
    other = {**TINY_CONFIG, "embed_dim": 8}
    with pytest.raises(InputError, match="another model config"):
        train_clip(world, out, settings(max_steps=30), model_config=other, resume=True)
    with pytest.raises(InputError, match="other settings"):
        train_clip(world, out, settings(max_steps=30, lr=1e-2), model_config=TINY_CONFIG, resume=True)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_fixed_projection_keeps_the_identity_and_trains_the_rest(world, tmp_path):
    import open_clip

    square = {**TINY_CONFIG, "embed_dim": 32}  # both towers are 32 wide
    train_clip(world, tmp_path, settings(max_steps=4, fixed_projection=True), model_config=square)
    model = open_clip.CLIP(**square)
    open_clip.load_checkpoint(model, str(tmp_path / "checkpoint.pt"), strict=True, weights_only=True)
    assert torch.equal(model.visual.proj, torch.eye(32)) and torch.equal(model.text_projection, torch.eye(32))
    start = build_model(square)
    assert not torch.equal(model.visual.ln_post.weight, start.visual.ln_post.weight)  # the rest trained
    metrics = train_clip(world, tmp_path, settings(max_steps=6, fixed_projection=True), model_config=square, resume=True)
    assert metrics["steps"] == 6 and torch.equal(load_toy_clip(tmp_path).text_projection, torch.eye(32))
    with pytest.raises(InputError, match="equal to both tower widths"):
        train_clip(world, tmp_path / "other", settings(max_steps=2, fixed_projection=True), model_config=TINY_CONFIG)


def test_cosine_schedule_warms_up_then_decays_to_zero_at_the_step_budget():
    cosine = TrainSettings(max_steps=110, minutes=None, warmup_steps=10, schedule="cosine")
    constant = TrainSettings(max_steps=110, minutes=None, warmup_steps=10)
    assert [cosine.lr_factor(k) for k in range(10)] == [constant.lr_factor(k) for k in range(10)] == \
        [pytest.approx((k + 1) / 10) for k in range(10)]
    assert cosine.lr_factor(10) == 1.0 and cosine.lr_factor(60) == pytest.approx(0.5) and cosine.lr_factor(110) == 0.0
    assert all(constant.lr_factor(k) == 1.0 for k in range(10, 200))
    with pytest.raises(InputError, match="give --steps"):
        TrainSettings(minutes=5, schedule="cosine")
    with pytest.raises(InputError, match="choose one of"):
        TrainSettings(max_steps=5, schedule="linear")


def test_a_checkpoint_from_before_the_projection_schedule_and_looks_options_still_resumes(trained, world, tmp_path):
    out, _ = trained
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    del state["settings"]["fixed_projection"], state["settings"]["schedule"], state["settings"]["name_looks"]
    torch.save(state, tmp_path / "checkpoint.pt")
    metrics = train_clip(world, tmp_path, settings(max_steps=26), model_config=TINY_CONFIG, resume=True)
    assert metrics["steps"] == 26


def test_a_checkpoint_from_another_config_is_refused(trained, tmp_path):
    out, _ = trained
    (tmp_path / "model.json").write_text(json.dumps({**TINY_CONFIG, "embed_dim": 8}))
    (tmp_path / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes())
    with pytest.raises(InputError, match="does not fit"):
        load_toy_clip(tmp_path)


def test_float16_export_is_small_and_close(trained, tmp_path):
    out, _ = trained
    export_float16(out, tmp_path)
    full, half = load_toy_clip(out), load_toy_clip(tmp_path)
    assert (tmp_path / "checkpoint.pt").stat().st_size < (out / "checkpoint.pt").stat().st_size / 4
    tokens = torch.randint(1, 400, (3, 24))
    with torch.no_grad():
        assert torch.allclose(full.encode_text(tokens), half.encode_text(tokens), atol=5e-2)


def test_float16_export_gives_the_same_bytes_whenever_it_is_written(trained, tmp_path):
    import zipfile

    out, _ = trained
    first, second = export_float16(out, tmp_path / "a"), export_float16(out, tmp_path / "b")
    with zipfile.ZipFile(first) as archive:
        assert {m.date_time for m in archive.infolist()} == {ZIP_TIME}  # not the clock's time
        assert {m.compress_type for m in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert first.read_bytes() == second.read_bytes()


def test_build_model_is_seeded_and_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a, b = build_model(TINY_CONFIG, seed=3), build_model(TINY_CONFIG, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(build_model(TINY_CONFIG, seed=4).positional_embedding, a.positional_embedding)


def test_retrieval_recall_on_planted_embeddings():
    image = np.eye(4)
    text = np.repeat(np.eye(4), 2, axis=0)  # two exact captions per image
    text[7] = image[0]  # caption 7 (of image 3) points at image 0
    r = retrieval_recall(image, text, np.repeat(np.arange(4), 2))
    assert r["r1_text_to_image"] == pytest.approx(7 / 8) and r["r1_image_to_text"] == 1.0
    assert r["chance_image_to_text"] == pytest.approx(2 / 8) and r["chance_text_to_image"] == pytest.approx(1 / 4)


def test_name_looks_trains_on_captions_naming_looks_and_leaves_the_world_as_it_is(tmp_path):
    from gaptools.world.clip import _split_data, _tokenizer
    from gaptools.world.generate import load_captions

    params = WorldParams(n_images=20, seed=1, n_val=2, n_test=2, looks=True)
    world, named = tmp_path / "world", tmp_path / "named"
    generate_world(world, params)
    generate_world(named, dataclasses.replace(params, name_looks=0.5))
    own = [s["raw"] for e in load_captions(world) if e["split"] == "train" for s in e["sentences"]]
    with_looks = [s["raw"] for e in load_captions(named) if e["split"] == "train" for s in e["sentences"]]
    assert own != with_looks
    tokenize = _tokenizer(TINY_CONFIG)
    for name_looks, expected in ((None, own), (0.0, own), (0.5, with_looks)):
        _, tokens, text_image = _split_data(world, "train", TINY_CONFIG, name_looks)
        assert torch.equal(tokens, tokenize(expected)) and len(text_image) == len(expected)
    metrics = train_clip(world, tmp_path / "clip", settings(max_steps=2, name_looks=0.5), model_config=TINY_CONFIG)
    assert metrics["settings"]["name_looks"] == 0.5
    with pytest.raises(InputError, match="checkpoint was trained with other settings"):
        train_clip(world, tmp_path / "clip", settings(max_steps=4, name_looks=0.2), model_config=TINY_CONFIG,
                   resume=True)


def test_name_looks_needs_a_world_with_looks(world, tmp_path):
    with pytest.raises(InputError, match="needs a world with looks"):
        train_clip(world, tmp_path, settings(max_steps=2, name_looks=0.5), model_config=TINY_CONFIG)
    with pytest.raises(InputError, match="--name-looks"):
        settings(max_steps=2, name_looks=1.5)
