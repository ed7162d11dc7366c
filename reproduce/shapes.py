"""The reproduction on the shapes world: the shipped toy CLIP, a small GPT-2 trained from scratch.

No pretrained weights exist here, so the caption decoder is a small GPT-2 with a byte-level
BPE tokenizer trained on the world's training captions, initialised from a seed and
trained by every captioner (fine-tuned, as the paper fine-tunes GPT-2).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from gaptools.reproduce.experiment import Experiment
from gaptools.reproduce.steps import StepRunner

#: Decoder and training settings for the world (full run, and --quick). ``n_positions`` must
#: hold the prefix and the longest target (64 tokens, ``caption train --max-tokens``). The full
#: run trains 5 captioners x 3 seeds; 3 epochs (not 5) keep it within 75 minutes on 2 CPU cores.
FULL = dict(decoder=dict(n_layer=3, n_embd=128, n_head=4, n_positions=80), vocab_size=400,
            training=dict(epochs=3, batch_size=64, lr=1e-3, warmup=300, prefix_length=10),
            world_images=None, max_test_images=None, aligners=None, mixup=(0.0, 0.25, 0.5, 0.75, 1.0))
QUICK = dict(decoder=dict(n_layer=2, n_embd=64, n_head=2, n_positions=80), vocab_size=300,
             training=dict(epochs=2, batch_size=32, lr=2e-3, warmup=20, prefix_length=4),
             world_images=200, max_test_images=30,
             aligners=("mean", "memory-projection", "pca-rotation-paper", "ot-paper", "ot-plan-images"),
             mixup=(0.0, 0.5, 1.0))


def shapes_experiment(out: Path, *, quick: bool = False, seed: int = 0, seeds: int = 1, bootstrap: int = 1000,
                      device: str = "auto") -> tuple[Experiment, callable]:
    """The shapes-world :class:`Experiment` and the steps that make its world and decoder.

    The world is the one the shipped toy CLIP was trained on (its recipe), so the test split
    is held out from CLIP training; ``quick`` uses a small world (whose splits then overlap
    the CLIP's training images: a plumbing check, not a result).
    """
    from gaptools.demo import SHAPES_DIR, SHAPES_RECIPE

    settings = QUICK if quick else FULL
    recipe = json.loads(SHAPES_RECIPE.read_text(encoding="utf-8"))
    world_params = dict(recipe["world"])
    if settings["world_images"] is not None:
        world_params["n_images"] = settings["world_images"]
    world, decoder = out / "world", out / "decoder"
    exp = Experiment(
        annotations=str(world / "captions.json"), images=str(world / "images"),
        model="shapes-toy-clip", pretrained=str(SHAPES_DIR / "checkpoint.pt"), model_config=str(SHAPES_DIR / "model.json"),
        decoder=str(decoder), max_test_images=settings["max_test_images"], aligners=settings["aligners"],
        mixup=settings["mixup"], quick=quick, seed=seed, seeds=seeds, bootstrap=bootstrap, device=device, **settings["training"],
    )

    def before(runner: StepRunner) -> None:
        runner.run("world", lambda: _world(world, world_params))
        runner.run("decoder", lambda: _decoder(world, decoder, settings, seed))

    return exp, before


def _world(folder: Path, params: dict) -> None:
    from gaptools.world import WorldParams, generate_world

    fields = {f.name for f in dataclasses.fields(WorldParams)}
    generate_world(folder, WorldParams(**{k: v for k, v in params.items() if k in fields}))


def _decoder(world: Path, folder: Path, settings: dict, seed: int) -> None:
    import torch

    from gaptools.caption.model import init_decoder
    from gaptools.caption.tokenizer import train_tokenizer
    from gaptools.world import load_captions

    texts = [s["raw"] for item in load_captions(world) if item["split"] == "train" for s in item["sentences"]]
    tokenizer = train_tokenizer(texts, folder, vocab_size=settings["vocab_size"])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        init_decoder(folder, tokenizer, **settings["decoder"])
