"""Batched greedy and beam-search decoding from prefix embeddings, with a key/value cache.

The decoder is any Hugging Face causal language model (GPT-2 in ClipCap): it reads the prefix
once (``inputs_embeds``), then one token per step with its key/value cache, so a step costs one
token's work instead of a whole re-read of the sequence (the reference ClipCap code decodes one
image at a time and recomputes every position at every step). Decoding is deterministic (no
sampling) and stops per sequence at EOS.

Beam search follows ClipCap's ``generate_beam`` (Mokady et al. 2021): candidates are ranked by
their mean token log-probability (sum / length, EOS counted), a finished beam stays in the beam
with its score frozen, and the search ends when every beam of every caption has finished or
``max_length`` tokens were generated. Greedy decoding is the same loop with one row per prefix
choosing the most likely token (the ``beam=1`` case).

Two caches serve the one search loop (:func:`_search`):

- ``"dynamic"`` (Hugging Face ``DynamicCache``): the cache grows by one position per step and a
  caption whose rows have all ended leaves the batch, so finished captions cost nothing. Best
  where each step's cost is its arithmetic (the CPU).
- ``"static"`` (Hugging Face ``StaticCache``, preallocated to the prefix plus ``max_length``):
  every step has the same shapes and no step needs the host, so on cuda the step (beam
  reordering of the cache included) is captured once as a CUDA graph and replayed, which removes
  the per-step Python and kernel-launch overhead that dominates a small model on a GPU. Finished
  captions stay in the batch (their rows are ignored); the loop still ends early once all have
  ended (checked every few steps on cuda, every step elsewhere). Off cuda the same code runs
  eagerly.

Both give the same tokens (tests check it on the CPU). Functions need only the decoder, the prefix
embeddings and the EOS id, so they serve any prefix captioner; ``caption.eval_run`` connects them
to a trained ClipCap run.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import torch

from gaptools.errors import InputError

CACHES = ("auto", "dynamic", "static")
GRAPH_WINDOW = 16  # with CUDA graphs, beam reordering covers the filled cache rounded up to this many positions
GRAPH_EXIT_CHECK = 4  # with CUDA graphs, steps between checks that every caption has ended (each check waits for the GPU)
GRAPH_WARMUPS = 2  # eager runs of a step before its capture (lazy library initialisation)


def generate(
    decoder: torch.nn.Module,
    prefix: torch.Tensor,
    *,
    eos_token_id: int | None,
    beam: int = 1,
    max_length: int = 67,
    batch_size: int = 64,
    cache: str = "auto",
    cuda_graphs: bool = True,
) -> list[list[int]]:
    """Decode one token sequence per prefix, in batches.

    Parameters
    ----------
    decoder : transformers causal LM
        E.g. ``GPT2LMHeadModel``; called with ``inputs_embeds`` / ``input_ids`` and a cache.
    prefix : Tensor, shape (N, L, H)
        Prefix embeddings (``ClipCapModel.embed_prefix`` output), H the decoder width, on the
        decoder's device.
    eos_token_id : int or None
        A sequence ends after this token (which is not returned). None: never stop early,
        always ``max_length`` tokens (for benchmarks).
    beam : int
        1 = greedy; k > 1 = beam search with k beams per prefix.
    max_length : int
        Most new tokens per sequence (EOS included).
    batch_size : int
        Prefixes decoded together (beam search runs ``batch_size * beam`` rows).
    cache : {"auto", "dynamic", "static"}
        Key/value cache (module docstring); ``"auto"``: static on cuda, dynamic elsewhere.
    cuda_graphs : bool
        With the static cache on cuda, replay each step as a captured CUDA graph.

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
    if cache not in CACHES:
        raise InputError(f"unknown cache '{cache}'", hint=f"valid: {', '.join(CACHES)}")
    on_cuda = prefix.device.type == "cuda"
    static = cache == "static" or (cache == "auto" and on_cuda)
    graphs = static and cuda_graphs and on_cuda
    n = prefix.shape[0]
    if static:
        steps = _StaticSteps(decoder, prefix.shape[1], max_length, window=GRAPH_WINDOW if graphs else 1,
                             capture=_cuda_graph if graphs else None)
    sequences: list[list[int]] = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            chunk = prefix[start : start + batch_size]
            real = chunk.shape[0]
            if graphs and n > batch_size and real < batch_size:  # the last chunk reuses the full chunks' graphs
                chunk = torch.cat([chunk, chunk[-1:].expand(batch_size - real, -1, -1)])
            tokens = _search(steps if static else _DynamicSteps(decoder), chunk, beam=beam, eos_token_id=eos_token_id,
                             max_length=max_length, check_every=GRAPH_EXIT_CHECK if graphs else 1)
            sequences.extend(_cut_at_eos(tokens[:real], eos_token_id))
    return sequences


def _search(
    steps, prefix: torch.Tensor, *, beam: int, eos_token_id: int | None, max_length: int, check_every: int = 1
) -> torch.Tensor:
    """Greedy (``beam=1``) or ClipCap's beam search, batched: N prefixes x ``beam`` rows.

    Parameters
    ----------
    steps : _DynamicSteps or _StaticSteps
        The decoder with its cache: ``start`` reads the prefixes, ``advance`` feeds one token per row.
    prefix : Tensor, shape (N, L, H)
    check_every : int
        Steps between checks that every caption has ended (a check waits for the device).

    Returns
    -------
    Tensor, shape (N, max_length), int64
        The best beam's tokens per prefix; every position after its EOS holds EOS (or 0 with no EOS id).
    """
    n, k = prefix.shape[0], beam
    fill = 0 if eos_token_id is None else eos_token_id  # what a finished row appends, at no cost
    logits = steps.start(prefix, k)  # (n, V)
    if k == 1:
        first, scores, lengths = logits.argmax(-1), None, None
        dead = torch.zeros_like(first, dtype=torch.bool)
    else:
        logp = logits.float().log_softmax(-1)
        vocab = logp.shape[-1]
        scores, first = logp.topk(min(k, vocab), dim=-1)  # (n, k') summed log-probabilities
        if k > vocab:  # more beams than tokens: the extra beams start dead (score -inf)
            scores = torch.cat([scores, scores.new_full((n, k - vocab), -torch.inf)], dim=1)
            first = torch.cat([first, first.new_zeros((n, k - vocab))], dim=1)
        scores, first = scores.reshape(-1), first.reshape(-1)  # (n*k,)
        lengths = torch.ones_like(scores)
        dead = torch.isinf(scores)
    stopped = dead if eos_token_id is None else dead | (first == eos_token_id)  # (rows,)
    tokens = torch.full((n * k, max_length), fill, dtype=torch.long, device=prefix.device)
    tokens[:, 0] = first
    groups = torch.arange(n, device=prefix.device)  # prefix of each caption still in the batch
    out = torch.full((n, max_length), fill, dtype=torch.long, device=prefix.device)
    rows = None  # cache row each row continues (beam reordering, captions leaving); None: unchanged
    for t in range(1, max_length):
        if steps.drops or t % check_every == 0:
            done = stopped.view(-1, k).all(1)  # (captions,)
            if done.all():
                break
            if steps.drops and done.any():  # finished captions leave the batch and the cache
                out[groups[done]] = _best(tokens, scores, lengths, k)[done]
                keep = (~done).repeat_interleave(k).nonzero().squeeze(1)
                rows = keep if rows is None else rows[keep]
                tokens, stopped, groups = tokens[keep], stopped[keep], groups[~done]
                if scores is not None:
                    scores, lengths = scores[keep], lengths[keep]
        logits = steps.advance(tokens[:, t - 1], rows, t)  # (rows, V)
        if k == 1:
            step, rows = logits.argmax(-1).masked_fill(stopped, fill), None
        else:
            logp = logits.float().log_softmax(-1)  # (rows, V)
            vocab = logp.shape[-1]
            logp[stopped] = -torch.inf
            logp[stopped, fill] = 0.0
            grown = lengths + (~stopped)
            mean = (scores[:, None] + logp) / grown[:, None]  # (rows, V)
            _, best = mean.view(-1, k * vocab).topk(k, dim=-1)  # (captions, k) over all candidates of a prefix
            offsets = torch.arange(best.shape[0], device=best.device)[:, None] * k
            rows = (best // vocab + offsets).reshape(-1)  # row each new beam extends
            step = (best % vocab).reshape(-1)
            scores, lengths, stopped = scores[rows] + logp[rows, step], grown[rows], stopped[rows]
            tokens = tokens[rows]
        tokens[:, t] = step
        if eos_token_id is not None:
            stopped = stopped | (step == eos_token_id)
    out[groups] = _best(tokens, scores, lengths, k)
    return out


def _best(tokens: torch.Tensor, scores, lengths, k: int) -> torch.Tensor:
    """Each caption's best row of ``tokens`` (rows, T): the highest mean log-probability of its k beams."""
    if k == 1:
        return tokens
    winner = (scores / lengths).view(-1, k).argmax(-1)
    return tokens[winner + torch.arange(winner.shape[0], device=winner.device) * k]


class _DynamicSteps:
    """The decoder with a growing ``DynamicCache``; rows may leave the batch (``drops``)."""

    drops = True

    def __init__(self, decoder) -> None:
        self.decoder, self.cache = decoder, None

    def start(self, prefix: torch.Tensor, k: int) -> torch.Tensor:
        """Read the prefixes (N, L, H); the cache then holds k rows per prefix. Returns logits (N, V)."""
        logits, self.cache = _forward(self.decoder, None, inputs_embeds=prefix)
        if k > 1:
            self.cache.batch_repeat_interleave(k)
        return logits

    def advance(self, ids: torch.Tensor, rows: torch.Tensor | None, t: int) -> torch.Tensor:
        """Feed token ``ids`` (R,) after keeping cache ``rows`` (R,) in that order; returns logits (R, V)."""
        if rows is not None:
            self.cache.batch_select_indices(rows)
        logits, self.cache = _forward(self.decoder, self.cache, input_ids=ids[:, None])
        return logits


class _StaticSteps:
    """The decoder with a preallocated ``StaticCache``: fixed shapes, no host work inside a step.

    Reused across batches of the same shape (its cache and graphs stay allocated).

    Parameters
    ----------
    decoder : transformers causal LM
    prefix_length, max_length : int
        The cache holds ``prefix_length + max_length`` positions.
    window : int
        Beam reordering moves the filled cache positions rounded up to a multiple of this
        (1: exactly the filled ones); each window size is one captured graph.
    capture : callable or None
        ``capture(fn)`` warms ``fn`` up (running it ``GRAPH_WARMUPS`` times) and returns a callable
        that replays it (:func:`_cuda_graph`); None: run each step eagerly.
    """

    drops = False

    def __init__(self, decoder, prefix_length: int, max_length: int, *, window: int = 1,
                 capture: Callable | None = None) -> None:
        self.decoder, self.prefix_length, self.window, self.capture = decoder, prefix_length, window, capture
        self.size = prefix_length + max_length
        self.cache, self.n_rows, self.graphs = None, 0, {}

    def start(self, prefix: torch.Tensor, k: int) -> torch.Tensor:
        """Read the prefixes (N, L, H) eagerly and copy their keys/values into k rows each. Returns logits (N, V)."""
        logits, prefill = _forward(self.decoder, None, inputs_embeds=prefix)
        n_rows = prefix.shape[0] * k
        if self.cache is None or n_rows != self.n_rows:
            from transformers import StaticCache

            self.cache = StaticCache(config=self.decoder.config, max_cache_len=self.size)
            cache_name, keep_last = _cache_arguments(type(self.decoder))
            self.cache_kwargs = {cache_name: self.cache, **({"logits_to_keep": 1} if keep_last else {})}
            self.n_rows, self.graphs = n_rows, {}
            self.ids = torch.zeros(n_rows, dtype=torch.long, device=prefix.device)
            self.identity = torch.arange(n_rows, device=prefix.device)
            self.rows = self.identity.clone()
        length = self.prefix_length
        for layer, filled in zip(self.cache.layers, prefill.layers):
            keys, values = filled.keys.repeat_interleave(k, 0), filled.values.repeat_interleave(k, 0)
            if not layer.is_initialized:
                layer.lazy_initialization(keys, values)
            layer.keys[:, :, :length].copy_(keys)
            layer.values[:, :, :length].copy_(values)
            layer.cumulative_length.fill_(length)
        return logits

    def advance(self, ids: torch.Tensor, rows: torch.Tensor | None, t: int) -> torch.Tensor:
        """Feed token ``ids`` (R,) after moving cache ``rows`` (R,) into place; returns logits (R, V).

        ``t`` tokens were generated so far: the cache holds ``prefix_length + t - 1`` positions.
        """
        filled = self.prefix_length + t - 1
        window = 0 if rows is None else min(self.size, -(-filled // self.window) * self.window)
        self.ids.copy_(ids)
        if self.capture is None:
            if rows is not None:
                self.rows.copy_(rows)
            return self._step(window)
        if window not in self.graphs:
            self.rows.copy_(self.identity)  # the warm-up runs must not move cache rows
            self.graphs[window] = self.capture(functools.partial(self._step, window))
            for layer in self.cache.layers:  # ... and they wrote past the filled positions: forget those
                layer.cumulative_length.fill_(filled)
        if rows is not None:
            self.rows.copy_(rows)
        return self.graphs[window]()

    def _step(self, window: int) -> torch.Tensor:
        """One step on the buffers: cache positions < ``window`` follow ``self.rows``, then one token.

        Everything here is a fixed-shape tensor operation (no host synchronisation, no
        data-dependent control flow), so that it can be captured as a CUDA graph.
        """
        if window:
            for layer in self.cache.layers:
                layer.keys[:, :, :window] = layer.keys[self.rows, :, :window]
                layer.values[:, :, :window] = layer.values[self.rows, :, :window]
        embeds = self.decoder.get_input_embeddings()(self.ids[:, None])  # (R, 1, H): no token-id checks
        return self.decoder(inputs_embeds=embeds, use_cache=True, **self.cache_kwargs).logits[:, -1]


def _cuda_graph(fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """Warm ``fn`` up on a side stream, capture it as a CUDA graph; returns ``replay() -> fn's output``."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(GRAPH_WARMUPS):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = fn()

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


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
