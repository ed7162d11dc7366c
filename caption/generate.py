"""Batched greedy and beam-search decoding from prefix embeddings, with the key/value cache.

The decoder is any Hugging Face causal language model (GPT-2 in ClipCap): it takes
``inputs_embeds`` once for the prefix, then one token per step with its key/value cache,
so a step costs one token's work instead of a whole re-read of the sequence (the
reference ClipCap code decodes one image at a time and recomputes every position at
every step). Decoding is deterministic (no sampling) and stops per sequence at EOS.

Beam search follows ClipCap's ``generate_beam`` (Mokady et al. 2021): candidates are
ranked by their mean token log-probability (sum / length, EOS counted), a finished beam
stays in the beam with its score frozen, and the search ends when every beam of every
caption has finished or ``max_length`` tokens were generated. With ``beam=1`` it is
exactly greedy decoding.

Functions need only the decoder, the prefix embeddings and the EOS id, so they serve any
prefix captioner; ``caption.eval_run`` connects them to a trained ClipCap run.
"""

from __future__ import annotations

import functools
import inspect

import torch

from gaptools.errors import InputError


def generate(
    decoder: torch.nn.Module,
    prefix: torch.Tensor,
    *,
    eos_token_id: int | None,
    beam: int = 1,
    max_length: int = 67,
    batch_size: int = 64,
) -> list[list[int]]:
    """Decode one token sequence per prefix, in batches.

    Parameters
    ----------
    decoder : transformers causal LM
        E.g. ``GPT2LMHeadModel``; called with ``inputs_embeds`` / ``input_ids`` and a cache.
    prefix : Tensor, shape (N, L, H)
        Prefix embeddings (``ClipCapModel.embed_prefix`` output), H the decoder width.
    eos_token_id : int or None
        A sequence ends after this token (which is not returned). None: never stop early,
        always ``max_length`` tokens (for benchmarks).
    beam : int
        1 = greedy; k > 1 = beam search with k beams per prefix.
    max_length : int
        Most new tokens per sequence (EOS included).
    batch_size : int
        Prefixes decoded together (beam search runs ``batch_size * beam`` rows).

    Returns
    -------
    list of list of int
        N token-id sequences, without the EOS token.
    """
    if prefix.ndim != 3 or prefix.shape[0] == 0:
        raise InputError(f"prefix embeddings must have shape (N, L, H) with N > 0, got {tuple(prefix.shape)}")
    for name, value in (("beam", beam), ("max_length", max_length), ("batch_size", batch_size)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    decode = _greedy if beam == 1 else functools.partial(_beam_search, beam=beam)
    sequences: list[list[int]] = []
    with torch.inference_mode():
        for start in range(0, prefix.shape[0], batch_size):
            chunk = prefix[start : start + batch_size]
            tokens = decode(decoder, chunk, eos_token_id=eos_token_id, max_length=max_length)
            sequences.extend(_cut_at_eos(tokens, eos_token_id))
    return sequences


def _greedy(decoder, prefix: torch.Tensor, *, eos_token_id: int | None, max_length: int) -> torch.Tensor:
    """Greedy decoding; finished rows leave the batch (and the cache).

    Returns
    -------
    Tensor, shape (B, T), int64
        Tokens; every position after a row's EOS holds EOS (or 0 with no EOS id).
    """
    n = prefix.shape[0]
    fill = 0 if eos_token_id is None else eos_token_id
    tokens = torch.full((n, max_length), fill, dtype=torch.long, device=prefix.device)
    rows = torch.arange(n, device=prefix.device)  # original row of each live batch row
    logits, cache = _forward(decoder, None, inputs_embeds=prefix)  # (n, V)
    for t in range(max_length):
        step = logits.argmax(-1)  # (b,)
        tokens[rows, t] = step
        if eos_token_id is not None:
            live = step != eos_token_id
            if not live.all():
                if not live.any():
                    break
                rows, step = rows[live], step[live]
                cache.batch_select_indices(live.nonzero().squeeze(1))
        if t + 1 == max_length:
            break
        logits, cache = _forward(decoder, cache, input_ids=step[:, None])
    return tokens


def _beam_search(
    decoder, prefix: torch.Tensor, *, beam: int, eos_token_id: int | None, max_length: int
) -> torch.Tensor:
    """ClipCap's beam search, batched: B prefixes x ``beam`` rows, ranked by mean log-probability.

    Returns
    -------
    Tensor, shape (B, T), int64
        The best beam's tokens per prefix; positions after its EOS hold EOS.
    """
    n, k = prefix.shape[0], beam
    logits, cache = _forward(decoder, None, inputs_embeds=prefix)  # (n, V)
    logp = logits.float().log_softmax(-1)
    vocab = logp.shape[-1]
    scores, first = logp.topk(min(k, vocab), dim=-1)  # (n, k') summed log-probabilities
    if k > vocab:  # more beams than tokens: the extra beams start dead (score -inf)
        scores = torch.cat([scores, scores.new_full((n, k - vocab), -torch.inf)], dim=1)
        first = torch.cat([first, first.new_zeros((n, k - vocab))], dim=1)
    scores, first = scores.reshape(-1), first.reshape(-1)  # (n*k,)
    tokens = first[:, None]  # (n*k, t)
    lengths = torch.ones_like(scores)
    stopped = torch.isinf(scores) if eos_token_id is None else torch.isinf(scores) | (first == eos_token_id)
    frozen_token = 0 if eos_token_id is None else eos_token_id  # what a finished beam appends, at no cost
    offsets = torch.arange(n, device=prefix.device)[:, None] * k  # (n, 1)
    cache.batch_repeat_interleave(k)
    for _ in range(1, max_length):
        if stopped.all():
            break
        logits, cache = _forward(decoder, cache, input_ids=tokens[:, -1:])
        logp = logits.float().log_softmax(-1)  # (n*k, V)
        logp[stopped] = -torch.inf
        logp[stopped, frozen_token] = 0.0
        grown = lengths + (~stopped)
        mean = (scores[:, None] + logp) / grown[:, None]  # (n*k, V)
        _, best = mean.view(n, k * vocab).topk(k, dim=-1)  # (n, k) over all candidates of a prefix
        source = (best // vocab + offsets).reshape(-1)  # (n*k,) row each new beam extends
        step = (best % vocab).reshape(-1)
        scores = scores[source] + logp[source, step]
        lengths = grown[source]
        stopped = stopped[source] if eos_token_id is None else stopped[source] | (step == eos_token_id)
        tokens = torch.cat([tokens[source], step[:, None]], dim=1)
        cache.reorder_cache(source)
    winner = (scores / lengths).view(n, k).argmax(-1) + offsets[:, 0]  # (n,)
    return tokens[winner]


def _cut_at_eos(tokens: torch.Tensor, eos_token_id: int | None) -> list[list[int]]:
    """Rows of ``tokens`` (B, T) as lists, each cut before its first EOS."""
    rows = tokens.tolist()
    if eos_token_id is None:
        return rows
    return [row[: row.index(eos_token_id)] if eos_token_id in row else row for row in rows]


def _forward(decoder, cache, **inputs) -> tuple[torch.Tensor, object]:
    """One decoder call with the cache; returns the last position's logits (B, V) and the cache."""
    cache_name, keep_last = _cache_arguments(type(decoder))
    if cache is None:
        from transformers import DynamicCache

        cache = DynamicCache()
    extra = {"logits_to_keep": 1} if keep_last else {}
    out = decoder(**inputs, use_cache=True, **{cache_name: cache}, **extra)
    return out.logits[:, -1], getattr(out, cache_name)


@functools.lru_cache(maxsize=None)
def _cache_arguments(decoder_class: type) -> tuple[str, bool]:
    """The cache keyword of this transformers version (``cache`` in 5.x, ``past_key_values`` before)
    and whether ``forward`` can skip the vocabulary projection of all but the last position."""
    parameters = inspect.signature(decoder_class.forward).parameters
    return ("cache" if "cache" in parameters else "past_key_values"), "logits_to_keep" in parameters
