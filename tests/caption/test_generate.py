"""Batched greedy / beam decoding on a tiny real GPT-2 (random weights, 2 layers)."""

import itertools

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gaptools.caption.generate import generate
from gaptools.errors import InputError

VOCAB, WIDTH, PREFIX_LEN = 12, 32, 3


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=WIDTH, n_layer=2, n_head=2,
                        initializer_range=0.3, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def prefix():
    return torch.randn(9, PREFIX_LEN, WIDTH, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def eos(decoder, prefix):
    """A token the greedy decoder emits mid-way for some prefixes, so some captions stop early."""
    free = generate(decoder, prefix, eos_token_id=None, max_length=10)
    return free[0][4]


def test_greedy_equals_hugging_face_generate(decoder, prefix, eos):
    ours = generate(decoder, prefix, eos_token_id=eos, max_length=10)
    theirs = decoder.generate(inputs_embeds=prefix, max_new_tokens=10, do_sample=False,
                              eos_token_id=eos, pad_token_id=eos, attention_mask=torch.ones(prefix.shape[:2]))
    expected = [row[: row.index(eos)] if eos in row else row for row in theirs.tolist()]
    assert ours == expected
    lengths = {len(s) for s in ours}
    assert min(lengths) < 10 and max(lengths) == 10  # some stopped at EOS, some ran to max_length
    assert all(eos not in s for s in ours)


@pytest.mark.parametrize("beam", [1, 3])
def test_batched_equals_one_at_a_time(decoder, prefix, eos, beam):
    batched = generate(decoder, prefix, eos_token_id=eos, beam=beam, max_length=10, batch_size=4)
    single = [generate(decoder, prefix[i : i + 1], eos_token_id=eos, beam=beam, max_length=10)[0]
              for i in range(prefix.shape[0])]
    assert batched == single


def test_beam_one_equals_greedy(decoder, prefix, eos):
    greedy = generate(decoder, prefix, eos_token_id=eos, max_length=10)
    assert generate(decoder, prefix, eos_token_id=eos, beam=1, max_length=10) == greedy
    assert generate(decoder, prefix, eos_token_id=None, beam=1, max_length=6) == \
        [s[:6] for s in generate(decoder, prefix, eos_token_id=None, max_length=10)]


def _mean_log_probs(decoder, prefix_row, targets):
    """Mean log-probability of each row of ``targets`` (S, T) after the prefix, without a cache."""
    embeds = torch.cat([prefix_row.expand(targets.shape[0], -1, -1), decoder.transformer.wte(targets)], dim=1)
    logp = decoder(inputs_embeds=embeds).logits.log_softmax(-1)[:, PREFIX_LEN - 1 : -1]  # (S, T, V)
    return logp.gather(-1, targets[..., None])[..., 0].mean(-1)


def test_wide_beam_finds_the_exhaustive_optimum(decoder, prefix, eos):
    """With more beams than candidates nothing is pruned: the result is the best-scoring sequence."""
    length = 3
    words = [t for t in range(VOCAB) if t != eos]
    rows = prefix[4:8]
    greedy = generate(decoder, rows, eos_token_id=eos, max_length=length)
    beams = generate(decoder, rows, eos_token_id=eos, beam=VOCAB**2, max_length=length)
    assert beams != greedy  # the planted prefixes include some where greedy is not optimal
    with torch.no_grad():
        for row, found in zip(rows, beams):
            best_score, best = -float("inf"), None
            for n in range(length + 1):  # n words, then EOS (n < length), or `length` words
                seqs = [list(s) + ([eos] if n < length else []) for s in itertools.product(words, repeat=n)]
                scores = _mean_log_probs(decoder, row, torch.tensor(seqs, dtype=torch.long))
                i = int(scores.argmax())
                if scores[i] > best_score:
                    best_score, best = scores[i].item(), seqs[i][:n]
            assert found == best, (found, best, best_score)


def test_bad_arguments_are_input_errors(decoder, prefix):
    with pytest.raises(InputError, match="beam must be at least 1"):
        generate(decoder, prefix, eos_token_id=1, beam=0)
    with pytest.raises(InputError, match=r"shape \(N, L, H\)"):
        generate(decoder, prefix[0], eos_token_id=1)


# --- the static cache (fixed shapes, CUDA-graph ready) gives the dynamic cache's tokens ---------------------


def _static(decoder, prefix, *, eos, beam, max_length, window=1, capture=None, check_every=1):
    """Decode all of ``prefix`` in one batch through ``_StaticSteps`` (the path cuda takes), eagerly."""
    from gaptools.caption.generate import _cut_at_eos, _search, _StaticSteps

    steps = _StaticSteps(decoder, prefix.shape[1], max_length, window=window, capture=capture)
    with torch.inference_mode():
        tokens = _search(steps, prefix, beam=beam, eos_token_id=eos, max_length=max_length, check_every=check_every)
    return _cut_at_eos(tokens, eos), steps


@pytest.mark.parametrize("beam", [1, 3, 5])
@pytest.mark.parametrize("prefix_len", [1, PREFIX_LEN])
def test_static_cache_gives_the_dynamic_cache_tokens(decoder, prefix, eos, beam, prefix_len):
    rows = prefix[:, :prefix_len]
    dynamic = generate(decoder, rows, eos_token_id=eos, beam=beam, max_length=10, cache="dynamic")
    assert len({len(s) for s in dynamic}) > 1  # captions end at different steps
    # batch 4 over 9 prefixes: the static cache is reused by the second chunk, reallocated for the last
    assert generate(decoder, rows, eos_token_id=eos, beam=beam, max_length=10, batch_size=4, cache="static") == dynamic
    assert generate(decoder, rows, eos_token_id=None, beam=beam, max_length=7, cache="static") == \
        generate(decoder, rows, eos_token_id=None, beam=beam, max_length=7, cache="dynamic")


@pytest.mark.parametrize("beam", [1, 4])
def test_graph_rehearsal_gives_the_same_tokens(decoder, prefix, eos, beam):
    """The CUDA-graph bookkeeping run eagerly: warm-up runs before each 'capture', reordering in
    windows of 4 positions, the end checked every 3 steps. Nothing may change the tokens."""
    calls = []

    def rehearse(fn):  # what _cuda_graph does, minus the graph: run the warm-ups, then replay = run
        calls.append(fn)
        for _ in range(2):
            fn()
        return fn

    got, steps = _static(decoder, prefix, eos=eos, beam=beam, max_length=10, window=4, capture=rehearse, check_every=3)
    assert got == generate(decoder, prefix, eos_token_id=eos, beam=beam, max_length=10, cache="dynamic")
    # greedy needs one step shape; beam search one per reordering window (4, 8, 12: the cache holds 3 + t - 1)
    assert sorted(steps.graphs) == ([0] if beam == 1 else [0, 4, 8, 12])
    assert len(calls) == len(steps.graphs)
    # the next batch of the same size reuses the cache and the 'graphs': nothing captured again
    from gaptools.caption.generate import _cut_at_eos, _search

    again = prefix[[8, 7, 6, 5, 4, 3, 2, 1, 0]]
    with torch.inference_mode():
        tokens = _search(steps, again, beam=beam, eos_token_id=eos, max_length=10, check_every=3)
    assert _cut_at_eos(tokens, eos) == [got[i] for i in [8, 7, 6, 5, 4, 3, 2, 1, 0]]
    assert len(calls) == len(steps.graphs)


def test_finished_captions_leave_the_dynamic_batch(decoder, prefix, eos, monkeypatch):
    from gaptools.caption import generate as module

    sizes = []
    advance = module._DynamicSteps.advance

    def spy(self, ids, rows, t):
        sizes.append(len(ids))
        return advance(self, ids, rows, t)

    monkeypatch.setattr(module._DynamicSteps, "advance", spy)
    ours = generate(decoder, prefix, eos_token_id=eos, beam=2, max_length=10)
    ended = sorted(len(s) for s in ours)
    assert sizes[0] == 2 * len(prefix) and sizes[-1] < sizes[0]  # beams of ended captions left the batch
    assert sizes == sorted(sizes, reverse=True) and ended[0] < 9


@pytest.mark.slow
def test_static_step_has_no_host_synchronisation(decoder, prefix):
    """The step captured as a CUDA graph traces as ONE graph (``fullgraph=True``): no ``.item()``,
    no data-dependent branch or shape, which would break a capture on cuda."""
    def compiled(fn):
        step = torch.compile(fn, backend="eager", fullgraph=True, dynamic=False)
        for _ in range(2):
            step()
        return step

    got, steps = _static(decoder, prefix[:3], eos=None, beam=2, max_length=5, window=4, capture=compiled)
    assert got == generate(decoder, prefix[:3], eos_token_id=None, beam=2, max_length=5)
    assert len(steps.graphs) == 3  # no reordering on the first step, then windows 4 and 8


def test_unknown_cache_is_an_input_error(decoder, prefix):
    with pytest.raises(InputError, match="unknown cache 'paged'"):
        generate(decoder, prefix, eos_token_id=1, cache="paged")


def test_static_step_run_eagerly_calls_no_op_that_waits_for_the_device(decoder, prefix):
    """What a CUDA-graph capture records is the eager step: none of its operators may read a value
    back to the host (``.item()``, ``bool()``, ``nonzero``...), which would fail the capture."""
    from torch.utils._python_dispatch import TorchDispatchMode

    waits = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.is_nonzero.default",
             "aten.equal.default", "aten.item.default"}

    class Operators(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.add(str(func))
            return func(*args, **(kwargs or {}))

    spy = Operators()

    def watched(fn):
        with spy:
            fn()
        return fn

    got, steps = _static(decoder, prefix[:3], eos=None, beam=2, max_length=6, window=4, capture=watched)
    assert "aten.scaled_dot_product_attention.default" in spy.seen or "aten.bmm.default" in spy.seen  # it saw the model
    assert "aten.index_copy_.default" in spy.seen  # ... writing the static cache
    assert not spy.seen & waits
    assert got == generate(decoder, prefix[:3], eos_token_id=None, beam=2, max_length=6)
