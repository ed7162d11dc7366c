"""Settings of the captioning commands, each default in one place (torch-free, so the CLI imports it).

The training defaults are those of the ClipCap reference code (Mokady et al. 2021, ``train.py``):
prefix length 10, AdamW lr 2e-5, 5,000 warm-up steps, batch 40, 10 epochs. The Unsupervised-ClipCap
paper does not state its own training settings; we use ClipCap's, as its method builds on ClipCap.
"""

from __future__ import annotations

import dataclasses

from gaptools.errors import InputError
from gaptools.validation import check_integer, check_number, check_seed

#: Noise variance of CapDec (Nukrai et al. 2022): inputs get N(0, 0.016) noise while training.
CAPDEC_NOISE_VARIANCE = 0.016

#: ``--noise-variance`` value that estimates the variance from ``--noise-pairs``
#: (:func:`gaptools.measure.noise_variance_estimate`: the gap's noise over true pairs).
NOISE_AUTO = "auto"

#: Most new tokens per generated caption: the ClipCap reference code's ``entry_length``.
MAX_NEW_TOKENS = 67

#: The caption decoder of real data (the ClipCap reference code's GPT-2, a Hugging Face hub id); a
#: shapes-world set gets the world's own tiny GPT-2 instead (:mod:`gaptools.caption.shapes`).
DECODER = "gpt2"


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (all recorded in the run's ``config.json``)."""

    data: str  # training embedding set (.npz)
    output: str  # run folder
    val: str | None = None  # held-out embedding set: loss after each epoch
    source: str = "text"  # "text" (Unsupervised-ClipCap, CapDec) or "image" (ClipCap)
    target: str | None = None  # text source: "matched" (another caption of the image) or "same"; None -> matched
    single_caption: str = "skip"  # matched targets, image with one caption: "skip" it or use the "same" caption
    noise_variance: float | str = 0.0  # Gaussian noise N(0, v) added to inputs while training (CapDec: CAPDEC_NOISE_VARIANCE); NOISE_AUTO: estimated from noise_pairs
    noise_pairs: str | None = None  # paired calibration set (image and caption embeddings) of --noise-variance auto
    subtract_text_mean: bool = False  # C3: subtract the training text mean (stored in the run for eval)
    normalize: bool = True  # L2-normalise inputs before mean subtraction and noise
    decoder: str | None = None  # causal LM: hub id or local folder; None: caption.shapes.default_decoder (shapes-world set: its own, else DECODER)
    mapper: str = "mlp"  # "mlp" or "transformer"
    prefix_length: int = 10  # L prefix embeddings (ClipCap reference code)
    freeze_decoder: bool = False  # train the mapper only
    mapper_layers: int = 8  # transformer mapper depth
    mapper_heads: int = 8  # transformer mapper heads
    clip_length: int = 10  # transformer mapper: tokens made from the CLIP vector
    lr: float = 2e-5  # AdamW peak learning rate (ClipCap reference code)
    warmup: int = 5000  # linear warm-up steps, then linear decay to 0 (ClipCap reference code)
    weight_decay: float = 0.0  # AdamW weight decay
    batch_size: int = 40  # global batch, split over ranks (ClipCap reference code)
    epochs: int = 10  # (ClipCap reference code)
    max_tokens: int = 64  # longest target, EOS included; longer captions are cut (our choice: COCO captions fit)
    seed: int = 0
    length_window: int = 16  # batches per window sorted by caption length (caption.data.epoch_batches); 0: plain shuffle
    save_every: int = 0  # also checkpoint every N steps (0: at epoch ends only)
    log_every: int = 50  # steps between log.jsonl records
    log_captions: int = 8  # held-out (--val) inputs captioned at each validation, logged with their distinct fraction; 0: none
    device: str = "auto"  # "auto" (cuda when present), "cpu", "cuda", ...

    def __post_init__(self) -> None:
        if self.target is None and self.source == "text":
            self.target = "matched"
        if self.source == "image" and self.target is not None:
            raise InputError("--target applies to --source text only (the image source targets each caption)")
        if self.source == "image" and self.subtract_text_mean:
            raise InputError("--subtract-text-mean applies to --source text only")
        self.validate()

    def validate(self) -> None:
        """Refuse impossible settings (one line naming the option) before anything is loaded or written."""
        for name in ("batch_size", "epochs", "log_every", "prefix_length", "max_tokens", "mapper_layers",
                     "mapper_heads", "clip_length"):
            check_integer(getattr(self, name), f"--{name.replace('_', '-')}", minimum=1)
        for name in ("warmup", "save_every", "length_window", "log_captions"):
            check_integer(getattr(self, name), f"--{name.replace('_', '-')}", minimum=0)
        for name in ("subtract_text_mean", "normalize", "freeze_decoder"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be True or False, got {getattr(self, name)!r:.60}")
        check_seed(self.seed)
        check_number(self.lr, "--lr", minimum=0, above=True)
        check_number(self.weight_decay, "--weight-decay", minimum=0)
        if self.noise_variance == NOISE_AUTO:
            if self.noise_pairs is None:
                raise InputError("--noise-variance auto needs --noise-pairs PAIRS, a small set of image and caption "
                                 "embeddings of the same images to estimate the gap's noise from")
        else:
            check_number(self.noise_variance, "--noise-variance", minimum=0)
            if self.noise_pairs is not None:
                raise InputError(f"--noise-pairs is read by --noise-variance auto only (given {self.noise_variance:g})",
                                 hint="use --noise-variance auto, or drop --noise-pairs")

    def model_config(self, clip_dim: int):
        """The :class:`gaptools.caption.model.ClipCapConfig` of this run's model, for inputs of ``clip_dim``."""
        from gaptools.caption.model import ClipCapConfig

        return ClipCapConfig(clip_dim=clip_dim, prefix_length=self.prefix_length, mapper=self.mapper,
                             decoder=self.decoder, freeze_decoder=self.freeze_decoder, mapper_layers=self.mapper_layers,
                             mapper_heads=self.mapper_heads, clip_length=self.clip_length)


def parse_noise_variance(text: str | None) -> float | str:
    """``--noise-variance``: ``"auto"`` (:data:`NOISE_AUTO`) or a number (range checks happen in TrainConfig)."""
    if text is None:
        return TrainConfig.noise_variance
    if text.strip().lower() == NOISE_AUTO:
        return NOISE_AUTO
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--noise-variance {text!r}: expected a number (e.g. {CAPDEC_NOISE_VARIANCE}) or "
                         f"'{NOISE_AUTO}'") from None
