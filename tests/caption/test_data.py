"""Length-grouped batches: a deterministic random permutation with little padding."""

from pathlib import Path

import numpy as np
import pytest

from gaptools.caption.data import epoch_batches, padding_fraction
from gaptools.errors import InputError

FLICKR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def flickr_like_lengths(n=4000, seed=0):
    """Caption lengths shaped like Flickr8k's GPT-2 token counts (mean ~13, long right tail)."""
    rng = np.random.default_rng(seed)
    return np.minimum(6 + rng.poisson(5, n) + rng.geometric(0.3, n), 42)


def test_padding_fraction_known_answer():
    # batch [0, 1] is padded to 3 (2 slots of padding), batch [2] has none: 2 / 8
    assert padding_fraction([np.array([0, 1]), np.array([2])], np.array([1, 3, 2])) == pytest.approx(0.25)
    assert padding_fraction([np.array([0, 1])], np.array([4, 4])) == 0.0


@pytest.mark.parametrize("window", [0, 1])
def test_without_a_window_the_order_is_the_plain_shuffle(window):
    """The plain order is what runs trained before length grouping saw (their resume stays exact)."""
    order = np.random.default_rng([3, 2, 0]).permutation(103)
    expected = [order[i : i + 10] for i in range(0, 103, 10)]
    got = epoch_batches(103, 10, seed=3, epoch=2, lengths=np.arange(103), window=window)
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize("n,batch,window,world", [(4000, 40, 16, 1), (1003, 40, 4, 1), (1003, 40, 4, 4), (70, 3, 50, 1)])
def test_grouped_batches_are_a_deterministic_permutation(n, batch, window, world):
    lengths = flickr_like_lengths(n)
    batches = epoch_batches(n, batch, seed=5, epoch=1, lengths=lengths, window=window, world_size=world)
    plain = epoch_batches(n, batch, seed=5, epoch=1, world_size=world)
    assert len(batches) == len(plain)  # the trainer counts steps per epoch from the plain batches
    assert sorted(len(b) for b in batches) == sorted(len(b) for b in plain)
    flat = np.concatenate(batches)
    assert len(flat) == len(np.unique(flat)) and set(flat) <= set(range(n))
    if world == 1:
        assert sorted(flat) == list(range(n))  # every pair once
    again = epoch_batches(n, batch, seed=5, epoch=1, lengths=lengths, window=window, world_size=world)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))  # deterministic in (seed, epoch)
    for other in (dict(seed=5, epoch=2), dict(seed=6, epoch=1)):
        moved = epoch_batches(n, batch, lengths=lengths, window=window, world_size=world, **other)
        assert not all(np.array_equal(a, b) for a, b in zip(batches, moved))


def test_two_lengths_in_one_window_need_no_padding():
    """Planted: lengths 2 and 9 alternate; one window over everything sorts them apart, so only
    the batch straddling the boundary (at most one) mixes them."""
    lengths = np.tile([2, 9], 50)  # 50 of each; batch 10 -> 10 batches
    batches = epoch_batches(100, 10, seed=0, epoch=0, lengths=lengths, window=10)
    assert sum(len(set(lengths[b])) > 1 for b in batches) == 0  # 50 = 5 batches of 10 exactly
    assert padding_fraction(batches, lengths) == 0.0
    assert padding_fraction(epoch_batches(100, 10, seed=0, epoch=0), lengths) > 0.3
    # the batches' order is shuffled, not short-then-long
    firsts = [int(lengths[b][0]) for b in batches]
    assert firsts != sorted(firsts) and firsts != sorted(firsts, reverse=True)


def test_grouping_cuts_padding_on_flickr_like_lengths():
    lengths = flickr_like_lengths(8000)
    plain = padding_fraction(epoch_batches(8000, 40, seed=0, epoch=0), lengths)
    grouped = [padding_fraction(epoch_batches(8000, 40, seed=0, epoch=0, lengths=lengths, window=w), lengths)
               for w in (2, 4, 16, 64)]
    assert plain > 0.3
    assert grouped == sorted(grouped, reverse=True)  # wider windows pad less
    assert grouped[2] < plain / 4


@pytest.mark.skipif(not (FLICKR / "gpt2_bpe" / "vocab.json").exists(), reason="needs ../shared/data")
def test_grouping_cuts_padding_on_flickr8k_gpt2_tokens():
    from transformers import GPT2TokenizerFast

    from gaptools.caption.tokenizer import encode_captions

    lines = (FLICKR / "flickr8k" / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines()
    captions = np.array([line.split("\t", 1)[1].strip() for line in lines if "\t" in line])
    tokenizer = GPT2TokenizerFast.from_pretrained(str(FLICKR / "gpt2_bpe"))
    _, lengths = encode_captions(tokenizer, captions, max_tokens=64)
    n = len(lengths)
    plain = padding_fraction(epoch_batches(n, 40, seed=0, epoch=0), lengths)
    grouped = padding_fraction(epoch_batches(n, 40, seed=0, epoch=0, lengths=lengths, window=16), lengths)
    assert plain > 0.35 and grouped < plain / 4  # measured: 0.45 and 0.07


def test_bad_windows_are_input_errors():
    with pytest.raises(InputError, match="one length per pair"):
        epoch_batches(10, 2, seed=0, epoch=0, window=3)
    with pytest.raises(InputError, match=">= 0"):
        epoch_batches(10, 2, seed=0, epoch=0, lengths=np.ones(10), window=-1)
