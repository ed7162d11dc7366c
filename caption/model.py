"""ClipCap: a CLIP embedding mapped to a prefix of L embeddings for a causal language model.

Mokady, Hermon & Bermano, "ClipCap: CLIP Prefix for Image Captioning" (2021). The same model
serves Unsupervised-ClipCap, which trains it on CLIP *text* embeddings only.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from gaptools.errors import InputError
from gaptools.limits import check_bytes

MAPPERS = ("mlp", "transformer")


@dataclasses.dataclass
class ClipCapConfig:
    """Settings that rebuild a :class:`ClipCapModel` (stored in every run's config)."""

    clip_dim: int  # D: size of the CLIP embedding fed to the mapper
    prefix_length: int = 10  # L: prefix embeddings handed to the decoder
    mapper: str = "mlp"  # "mlp" (D -> h*L/2 -> h*L, tanh) or "transformer" (learned constants + attention)
    decoder: str = "gpt2"  # Hugging Face causal LM: hub id or local folder
    freeze_decoder: bool = False  # True: only the mapper learns
    mapper_layers: int = 8  # transformer mapper: encoder layers
    mapper_heads: int = 8  # transformer mapper: attention heads (must divide the decoder width h)
    clip_length: int = 10  # transformer mapper: tokens the CLIP vector is projected to

    def __post_init__(self) -> None:
        if not isinstance(self.mapper, str) or self.mapper not in MAPPERS:
            raise InputError(f"unknown mapper {self.mapper!r}", hint=f"valid: {', '.join(MAPPERS)}")
        for name in ("clip_dim", "prefix_length", "mapper_layers", "mapper_heads", "clip_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer of at least 1, got {value!r}")
        if not isinstance(self.freeze_decoder, bool):
            raise InputError(f"freeze_decoder must be true or false, got {self.freeze_decoder!r}")
        if self.decoder is not None and not isinstance(self.decoder, str):
            raise InputError(f"decoder must be a hub id or a folder, got {self.decoder!r:.60}")

    def mapper_weights(self, hidden: int) -> int:
        """Parameters of the mapper for a decoder of width ``hidden`` (Python ints: no overflow)."""
        d, h, L = self.clip_dim, hidden, self.prefix_length
        if self.mapper == "mlp":
            mid = h * L // 2
            return d * mid + mid + mid * h * L + h * L
        layer = 4 * h * h + 4 * h + 2 * (2 * h * h) + 3 * h + 4 * h  # attention, feed-forward (2h), two norms
        return d * self.clip_length * h + self.clip_length * h + L * h + self.mapper_layers * layer


#: Bytes a weight costs while training: float32 value, gradient and AdamW's two moments.
TRAIN_BYTES_PER_WEIGHT = 16


class MLPMapper(nn.Module):
    """ClipCap's MLP: (B, D) -> (B, L, h) through a hidden layer of h*L/2 with tanh."""

    def __init__(self, clip_dim: int, hidden: int, prefix_length: int) -> None:
        super().__init__()
        self.prefix_length, self.hidden = prefix_length, hidden
        mid = hidden * prefix_length // 2
        self.net = nn.Sequential(nn.Linear(clip_dim, mid), nn.Tanh(), nn.Linear(mid, hidden * prefix_length))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.net(clip).view(clip.shape[0], self.prefix_length, self.hidden)  # (B, L, h)


class TransformerMapper(nn.Module):
    """ClipCap's transformer mapper: the CLIP vector becomes ``clip_length`` tokens, which
    L learned constants attend to; the constants' outputs are the prefix."""

    def __init__(self, clip_dim: int, hidden: int, prefix_length: int, clip_length: int, layers: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise InputError(f"mapper_heads={heads} does not divide the decoder width {hidden}")
        self.clip_length, self.hidden = clip_length, hidden
        self.project = nn.Linear(clip_dim, clip_length * hidden)
        self.constants = nn.Parameter(torch.randn(prefix_length, hidden))
        layer = nn.TransformerEncoderLayer(
            hidden, heads, dim_feedforward=2 * hidden, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        tokens = self.project(clip).view(clip.shape[0], self.clip_length, self.hidden)  # (B, C, h)
        constants = self.constants.unsqueeze(0).expand(clip.shape[0], -1, -1)  # (B, L, h)
        out = self.encoder(torch.cat([tokens, constants], dim=1))  # (B, C+L, h)
        return out[:, self.clip_length :]  # (B, L, h)


class ClipCapModel(nn.Module):
    """Mapper plus causal language model.

    Parameters
    ----------
    config : ClipCapConfig
    decoder : transformers.PreTrainedModel
        A causal LM (``AutoModelForCausalLM``); see :func:`load_decoder` and :func:`decoder_from_config`.
    """

    def __init__(self, config: ClipCapConfig, decoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.decoder = decoder
        self.prefix_length = config.prefix_length
        hidden = decoder.get_input_embeddings().embedding_dim
        n_weights = config.mapper_weights(hidden)
        check_bytes(TRAIN_BYTES_PER_WEIGHT * n_weights, source=f"the {config.mapper} mapper",
                    what=f"its {n_weights:,} weights (prefix_length {config.prefix_length}, clip_dim "
                         f"{config.clip_dim}, decoder width {hidden}) while training")
        if config.mapper == "mlp":
            self.mapper = MLPMapper(config.clip_dim, hidden, config.prefix_length)
        else:
            self.mapper = TransformerMapper(
                config.clip_dim, hidden, config.prefix_length, config.clip_length, config.mapper_layers, config.mapper_heads
            )
        self.decoder.requires_grad_(not config.freeze_decoder)

    def embed_prefix(self, clip: torch.Tensor) -> torch.Tensor:
        """Prefix embeddings, shape (B, L, h), of CLIP embeddings ``clip`` of shape (B, D)."""
        return self.mapper(clip)

    def forward(
        self,
        clip: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        reduction: str = "mean",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token logits of the captions given the prefix, and the cross entropy.

        Parameters
        ----------
        clip : Tensor, shape (B, D)
        input_ids : Tensor, shape (B, T), int
            Target captions (EOS appended), right-padded with any id.
        attention_mask : Tensor, shape (B, T)
            1 for real tokens, 0 for padding; padding never enters the loss.
        reduction : {"mean", "sum"}
            Loss averaged over real tokens, or summed (distributed training divides the sum
            by the global token count).

        Returns
        -------
        logits : Tensor, shape (B, T+1, V)
            ``logits[:, t]`` scores token t given the prefix and tokens < t; the last
            position scores what would follow the whole input.
        loss : Tensor, scalar, float32
        """
        prefix = self.embed_prefix(clip)  # (B, L, h)
        tokens = self.decoder.get_input_embeddings()(input_ids)  # (B, T, h)
        mask = torch.cat([attention_mask.new_ones(prefix.shape[:2]), attention_mask], dim=1)  # (B, L+T)
        out = self.decoder(
            inputs_embeds=torch.cat([prefix.to(tokens.dtype), tokens], dim=1),
            attention_mask=mask,
            logits_to_keep=input_ids.shape[1] + 1,
            use_cache=False,
        )
        logits = out.logits  # (B, T+1, V)
        labels = input_ids.long().masked_fill(attention_mask == 0, -100)  # (B, T)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction=reduction)
        return logits, loss


    def token_room(self) -> int | None:
        """Caption tokens the decoder has positions for after the prefix (None: no fixed limit).

        Beyond them its position embedding fails with an IndexError deep in a forward pass, so
        training and generation cut captions to this length, checked up front (:meth:`fit_tokens`).
        """
        config = self.decoder.config
        positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        return None if positions is None else positions - self.prefix_length

    def fit_tokens(self, n_tokens: int, *, option: str, say: Callable[[str], None]) -> int:
        """``n_tokens`` (``--max-tokens``, ``--max-length``), cut to :meth:`token_room`; ``say`` tells when it is.

        Raises
        ------
        InputError
            The prefix leaves fewer than 2 positions (a token and its EOS).
        """
        room = self.token_room()
        if room is None or n_tokens <= room:
            return n_tokens
        if room < 2:
            raise InputError(f"--prefix-length {self.prefix_length}: leaves {max(room, 0)} of the decoder's "
                             f"{room + self.prefix_length} positions for the caption (a token and EOS need 2)",
                             hint="use a shorter prefix")
        say(f"{option} {n_tokens}: the decoder has {room + self.prefix_length} positions, {room} after the "
            f"prefix: captions are cut at {room} tokens")
        return room


def load_decoder(name_or_dir: str | os.PathLike) -> nn.Module:
    """Load a pretrained causal LM by hub id or local folder (a clear error when it cannot be found).

    Parameters
    ----------
    name_or_dir : str or path-like
        ``"gpt2"`` (the default, from the local cache when offline) or a ``save_pretrained`` folder.
    """
    from transformers import AutoModelForCausalLM

    from gaptools.caption.hub import from_pretrained

    return from_pretrained(AutoModelForCausalLM, name_or_dir, "decoder")


def decoder_from_config(config: dict, *, source: str = "decoder_config") -> nn.Module:
    """A randomly initialised causal LM from a ``config.to_dict()`` (weights are loaded after).

    The config is checked first: an object whose ``model_type`` is a causal LM transformers
    knows, valid settings, and weights (built on torch's ``meta`` device, which allocates
    nothing) within the memory budget (:mod:`gaptools.limits`), so ``n_embd`` of 10⁷ or
    ``n_positions`` of 10⁹ is one line, never an allocation.

    Raises
    ------
    InputError
        Any of those, naming ``source`` (the file the config came from).
    """
    from transformers import AutoModelForCausalLM

    hf_config = _causal_lm_config(config, source)
    with torch.device("meta"):
        shell = AutoModelForCausalLM.from_config(hf_config)
    n_bytes = sum(t.numel() * t.element_size() for t in (*shell.parameters(), *shell.buffers()))
    check_bytes(n_bytes, what=f"the {hf_config.model_type} decoder's weights", source=source)
    return AutoModelForCausalLM.from_config(hf_config)


def _causal_lm_config(config: dict, source: str):
    """``transformers`` config of a causal LM from its ``to_dict()``, or one line naming ``source``."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not isinstance(config, dict):
        raise InputError(f"{source}: the decoder config must be an object, got {type(config).__name__}")
    config = dict(config)
    model_type = config.pop("model_type", None)
    if not isinstance(model_type, str) or model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise InputError(f"{source}: unknown decoder model_type {model_type!r:.60}",
                         hint="a causal language model transformers knows, such as 'gpt2'")
    try:
        return AutoConfig.for_model(model_type, **config)
    except Exception as exc:  # transformers raises ValueError, TypeError, ... on bad settings
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{source}: not a valid {model_type} config ({type(exc).__name__}: {first:.200})") from None


def init_decoder(folder: str | os.PathLike | None, tokenizer, **gpt2_settings) -> nn.Module:
    """A randomly initialised GPT-2 for ``tokenizer``, saved with it to ``folder`` (usable as ``--decoder``).

    For tests, benchmarks and small worlds: no download needed.

    Parameters
    ----------
    folder : path-like or None
        None: nothing is saved.
    tokenizer : transformers.PreTrainedTokenizerBase
        Its vocabulary size and EOS id set the model's.
    **gpt2_settings
        ``transformers.GPT2Config`` fields (``n_layer``, ``n_embd``, ``n_head``, ``resid_pdrop``, ...);
        unset fields keep GPT-2 small's values.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, **gpt2_settings
    )
    model = GPT2LMHeadModel(config)
    if folder is not None:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
    return model
