"""Captions per second of `caption.generate` against the reference decoding and Hugging Face `generate`.

    python bench/generate.py            # batch 64, greedy and beam 5, 20 new tokens
    python bench/generate.py --quick    # batch 16

GPT-2 small's shape (``GPT2Config()`` defaults: 12 layers, width 768, 50,257 tokens) with
random weights, a ClipCap prefix of 10 embeddings, exactly 20 new tokens (no early stop).
Three ways, all on the same model and prefixes, measured in the same run:

- ``caption.generate``: batched, key/value cache, one token per step (the CPU's default dynamic
  cache; the static cache that cuda uses is timed too, run eagerly, and must give the same tokens);
- (a) the reference ClipCap code's way: one image at a time, no cache (the whole sequence
  is re-read and projected onto the vocabulary at every step); timed on a few images;
- (b) ``GPT2LMHeadModel.generate(inputs_embeds=...)`` with the same batch.

Prints captions per second and the ratios, and whether the token sequences agree. Times are
CPU seconds of this process (``time.process_time``) on one thread by default: on a shared
machine other processes then neither slow nor speed up a measurement, and on an idle
machine one thread's CPU time is its wall time. ``--threads N`` measures N threads (still
CPU time, so N threads show their overhead, not their speed-up).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gaptools.caption.generate import generate

NEW_TOKENS, PREFIX_LENGTH, BEAM = 20, 10, 5


def reference_greedy(decoder, prefix: torch.Tensor) -> list[int]:
    """ClipCap's ``generate2`` (temperature 1, argmax): one prefix (L, H), no cache."""
    generated, tokens = prefix[None], []
    for _ in range(NEW_TOKENS):
        logits = decoder(inputs_embeds=generated).logits[:, -1, :]  # all positions projected, last kept
        token = logits.argmax(-1)
        tokens.append(int(token))
        generated = torch.cat([generated, decoder.transformer.wte(token)[:, None]], dim=1)
    return tokens


def reference_beam(decoder, prefix: torch.Tensor) -> list[int]:
    """ClipCap's ``generate_beam`` without a stop token: one prefix, ``BEAM`` rows, no cache."""
    generated, scores, tokens = prefix[None], None, None
    for _ in range(NEW_TOKENS):
        logp = decoder(inputs_embeds=generated).logits[:, -1, :].log_softmax(-1)
        if scores is None:
            scores, next_tokens = logp.topk(BEAM, -1)  # (1, k)
            generated = generated.expand(BEAM, *generated.shape[1:])
            next_tokens, scores = next_tokens.permute(1, 0), scores.squeeze(0)
            tokens = next_tokens
        else:
            average = (scores[:, None] + logp).view(-1)
            scores, flat = average.topk(BEAM, -1)
            source, next_tokens = flat // logp.shape[1], (flat % logp.shape[1])[:, None]
            generated, tokens = generated[source], torch.cat([tokens[source], next_tokens], dim=1)
        generated = torch.cat([generated, decoder.transformer.wte(next_tokens.squeeze(1))[:, None]], dim=1)
    return tokens[scores.argmax()].tolist()


def timed(fn):
    """``fn()`` and the CPU seconds it took."""
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reference-images", type=int, default=2, help="images decoded the reference way (slow)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="batch 16, 1 reference image")
    args = parser.parse_args()
    batch, n_ref = (16, 1) if args.quick else (args.batch, args.reference_images)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    decoder = GPT2LMHeadModel(GPT2Config()).eval()
    prefix = torch.randn(batch, PREFIX_LENGTH, decoder.config.n_embd)
    mask = torch.ones(prefix.shape[:2], dtype=torch.long)
    print(f"GPT-2 small shape, random weights; batch {batch}, prefix {PREFIX_LENGTH}, {NEW_TOKENS} new tokens; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    rows = []
    with torch.inference_mode():
        generate(decoder, prefix[:2], eos_token_id=None, max_length=2)  # warm-up: first touch of the weights
        for beam in (1, BEAM):
            ours, t_ours = timed(lambda: generate(decoder, prefix, eos_token_id=None, beam=beam,
                                                  max_length=NEW_TOKENS, batch_size=batch))
            static, t_static = timed(lambda: generate(decoder, prefix, eos_token_id=None, beam=beam,
                                                      max_length=NEW_TOKENS, batch_size=batch, cache="static"))
            hf, t_hf = timed(lambda: decoder.generate(
                inputs_embeds=prefix, attention_mask=mask, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                do_sample=False, num_beams=beam, length_penalty=1.0, pad_token_id=0).tolist())
            reference = reference_greedy if beam == 1 else reference_beam
            ref, t_ref = timed(lambda: [reference(decoder, p) for p in prefix[:n_ref]])
            rows.append((beam, batch / t_ours, batch / t_hf, n_ref / t_ref,
                         sum(a == b for a, b in zip(ours, hf)), sum(a == b for a, b in zip(ours, ref)),
                         batch / t_static, static == ours))
    print("captions per CPU second (higher is better); ratios: ours / (a), ours / (b); ours = the CPU default "
          "(dynamic cache), static = the cuda path (static cache) run eagerly")
    print(f"{'decoding':<10}{'ours cap/s':>12}{'(a) ref cap/s':>15}{'(b) HF cap/s':>14}{'vs (a)':>9}{'vs (b)':>9}"
          f"{'same as HF':>12}{'same as ref':>13}{'static cap/s':>14}{'same':>6}")
    for beam, ours, hf, ref, same_hf, same_ref, static, same_static in rows:
        name = "greedy" if beam == 1 else f"beam {beam}"
        print(f"{name:<10}{ours:>12.2f}{ref:>15.3f}{hf:>14.2f}{ours / ref:>8.1f}x{ours / hf:>8.2f}x"
              f"{f'{same_hf}/{batch}':>12}{f'{same_ref}/{n_ref}':>13}{static:>14.2f}{'yes' if same_static else 'NO':>6}")


if __name__ == "__main__":
    main()
