"""The reproduction on the shapes world: the shipped toy CLIP, a small GPT-2 trained from scratch.

No pretrained weights exist here, so the caption decoder is the world's small GPT-2
(:func:`gaptools.caption.shapes.build_decoder`: a byte-level BPE tokenizer trained on the world's
training captions, weights initialised from a seed), trained by every captioner (fine-tuned, as
the paper fine-tunes GPT-2).
"""

from __future__ import annotations

from pathlib import Path

from gaptools.caption import shapes as world_decoder
from gaptools.reproduce.experiment import Experiment
from gaptools.reproduce.steps import StepRunner

#: Decoder and training settings for the world (full run, and --quick). The full run's decoder is
#: the world's (``caption train`` builds the same shape on a shapes-world set); ``n_positions`` must
#: hold the prefix and the longest target (64 tokens, ``caption train --max-tokens``). The full
#: run trains 5 captioners x 3 seeds; 3 epochs (not 5) keep it within 75 minutes on 2 CPU cores.
FULL = dict(decoder=world_decoder.GPT2, vocab_size=world_decoder.VOCAB_SIZE,
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
    from gaptools.demo import SHAPES_DIR, world_params

    settings = QUICK if quick else FULL
    params = world_params(**({} if settings["world_images"] is None else {"n_images": settings["world_images"]}))
    world, decoder = out / "world", out / "decoder"
    exp = Experiment(
        annotations=str(world / "captions.json"), images=str(world / "images"),
        model="shapes-toy-clip", pretrained=str(SHAPES_DIR / "checkpoint.pt"), model_config=str(SHAPES_DIR / "model.json"),
        decoder=str(decoder), max_test_images=settings["max_test_images"], aligners=settings["aligners"],
        mixup=settings["mixup"], quick=quick, seed=seed, seeds=seeds, bootstrap=bootstrap, device=device, **settings["training"],
    )

    def before(runner: StepRunner) -> None:
        from gaptools.world import generate_world

        runner.run("world", lambda: generate_world(world, params))
        runner.run("decoder", lambda: _decoder(world, decoder, settings, seed))

    return exp, before


def _decoder(world: Path, folder: Path, settings: dict, seed: int) -> None:
    from gaptools.world import load_captions

    texts = [s["raw"] for item in load_captions(world) if item["split"] == "train" for s in item["sentences"]]
    world_decoder.build_decoder(texts, seed=seed, vocab_size=settings["vocab_size"], folder=folder, **settings["decoder"])
