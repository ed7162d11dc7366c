"""Training speed of `caption train` at GPT-2-small shape, batch 40, prefix 10, real Flickr8k captions.

    python bench/train.py                 # 4 steps on this machine (cuda when present)
    python bench/train.py --steps 30      # on a GPU

Runs the real trainer (``caption.train.train``) on a random-weight GPT-2 small (GPT2Config
defaults) with the real GPT-2 BPE tokenizer and captions sampled from ../shared/data/flickr8k
(CLIP embeddings are random unit vectors: speed does not depend on them). Prints captions/s and
target tokens/s (median over the steps after the first), and, as the baseline measured in the same
run, the same model stepped the way the ClipCap reference does: every batch padded to the
dataset's longest caption.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from caption import checkpoint
from caption.model import ClipCapModel, init_decoder, load_decoder
from caption.tokenizer import encode_captions
from caption.train import TrainConfig, train
from gaptools.io import EmbeddingSet, save_set

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def flickr_set(n_captions: int, dim: int, seed: int) -> EmbeddingSet:
    """``n_captions`` Flickr8k captions (5 per image, whole images) with random unit embeddings."""
    by_image: dict[str, list[str]] = {}
    for line in (DATA / "flickr8k" / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            key, caption = line.split("\t", 1)
            by_image.setdefault(key.split("#")[0], []).append(caption.strip())
    rng = np.random.default_rng(seed)
    names = [k for k, v in by_image.items() if len(v) == 5]
    chosen = rng.choice(len(names), size=-(-n_captions // 5), replace=False)
    captions = [c for i in chosen for c in by_image[names[i]]]
    text = rng.normal(size=(len(captions), dim))
    image = rng.normal(size=(len(chosen), dim))
    return EmbeddingSet(image=image, text=text, text_image=np.repeat(np.arange(len(chosen)), 5),
                        caption=np.array(captions), meta={"dataset": "flickr8k (bench sample)"})


def baseline(model, eset, tokenizer, steps: int, batch: int, device) -> float:
    """Captions/s of steps padded to the dataset's longest caption (the reference's way)."""
    ids, lengths = encode_captions(tokenizer, eset.caption, max_tokens=64)
    ids_t, mask = torch.from_numpy(ids).long().to(device), (np.arange(ids.shape[1]) < lengths[:, None])
    mask_t = torch.from_numpy(mask).long().to(device)
    x = torch.from_numpy(eset.text).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    times = []
    for step in range(steps):
        rows = torch.arange(step * batch, (step + 1) * batch, device=device) % len(ids)
        start = time.perf_counter()
        with autocast:
            _, loss = model(x[rows], ids_t[rows], mask_t[rows])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # wait for the device
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[1:] or times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4, help="training steps (the first is not counted)")
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if not (DATA / "gpt2_bpe" / "vocab.json").exists():
        raise SystemExit(f"needs the GPT-2 BPE files and Flickr8k captions in {DATA}")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    from transformers import GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast.from_pretrained(str(DATA / "gpt2_bpe"))
    assert tokenizer.encode(".") == [13], "not the GPT-2 vocabulary"
    eset = flickr_set(args.steps * args.batch_size, 512, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        init_decoder(Path(tmp) / "gpt2-random", tokenizer)  # GPT-2 small shape, random weights
        data = save_set(eset, Path(tmp) / "flickr.npz")
        config = TrainConfig(str(data), str(Path(tmp) / "run"), target="same", decoder=str(Path(tmp) / "gpt2-random"),
                             batch_size=args.batch_size, epochs=1, warmup=0, log_every=1, device=str(device))
        train(config, say=lambda _: None)
        log = [r for r in checkpoint.read_log(config.output) if "loss" in r][1:]  # the first step warms up
        samples = statistics.median(r["samples_per_s"] for r in log)
        tokens = statistics.median(r["tokens_per_s"] for r in log)
        model = ClipCapModel(config.model_config(512), load_decoder(config.decoder)).to(device)
        base = baseline(model, eset, tokenizer, args.steps, args.batch_size, device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    lengths = encode_captions(tokenizer, eset.caption, max_tokens=64)[1]
    print(f"device: {where}; torch {torch.__version__}")
    print(f"GPT-2 small (random weights), batch {args.batch_size}, prefix 10, MLP mapper, {len(log)} timed steps; "
          f"Flickr8k target tokens (EOS included): mean {lengths.mean():.1f}, max {lengths.max()}")
    print(f"caption train:           {samples:9.1f} captions/s  {tokens:10.0f} target tokens/s")
    print(f"baseline (global pad):   {base:9.1f} captions/s")
    print(f"speed-up over baseline:  {samples / base:9.2f}x")


if __name__ == "__main__":
    main()
