"""Training speed of `caption train` at GPT-2-small shape on Flickr8k caption lengths, three ways.

    python bench/train.py                       # 6 timed steps per way, batch 40
    python bench/train.py --busy 2              # also: grouped batches with 2 competing CPU-bound processes
    python bench/train.py --layers 3 --width 128 --steps 30   # a decoder the size of the shapes world's

Runs the real trainer (``caption.train.train``) on a random-weight GPT-2 (``GPT2Config`` defaults:
GPT-2 small, unless ``--layers``/``--width``) with the real GPT-2 BPE tokenizer and all 40,460
Flickr8k captions from ../shared/data (CLIP embeddings are random unit vectors: speed does not
depend on them), prefix 10, MLP mapper. Each run stops after ``--steps`` timed steps of its first
epoch; those batches are the first of the epoch's shuffled schedule, i.e. a random sample of what
a whole epoch sees. The ways, all in this run on the same model shape:

- grouped: batches grouped by caption length (``TrainConfig.length_window``, the default);
- per-batch padding: a plain shuffle, each batch padded to its longest caption
  (``length_window=0``: the trainer before length grouping);
- global padding: every batch padded to the dataset's longest caption, as the ClipCap reference
  code does (the same model stepped by hand).

captions/s = captions / seconds over the timed steps (each run's first step warms up and is not
counted); target tokens include EOS. captions/CPU-s divides by the CPU seconds of this process (all
its threads) instead: on a shared machine it measures the work a way needs, whatever the load. Threads: the CLI's policy (:mod:`gaptools.threads`) is applied
first; set ``OMP_NUM_THREADS`` etc. to override it.
"""

from __future__ import annotations

from gaptools.threads import configure

THREAD_SETTINGS = configure()  # before torch starts its thread pool, as the CLI does

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from busy import busy, load_average  # noqa: E402
from shared_data import DATA  # noqa: E402

from gaptools.caption.config import TrainConfig  # noqa: E402
from gaptools.caption.data import epoch_batches, padding_fraction  # noqa: E402
from gaptools.caption.model import ClipCapModel, init_decoder, load_decoder  # noqa: E402
from gaptools.caption.tokenizer import encode_captions  # noqa: E402
from gaptools.caption.train import train  # noqa: E402
from gaptools.io import EmbeddingSet, save_set  # noqa: E402

PREFIX_LENGTH, CLIP_DIM = 10, 512
NO_LOG = 10**9  # log_every: no per-step log records (each waits for the device)


def flickr_captions() -> list[str]:
    """All Flickr8k captions, in file order."""
    lines = (DATA / "flickr8k" / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1].strip() for line in lines if "\t" in line]


def flickr_set(captions: list[str], seed: int = 0) -> EmbeddingSet:
    """The captions as a text set with random unit embeddings (one image per caption: targets are the same caption)."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(len(captions), CLIP_DIM))
    return EmbeddingSet(image=rng.normal(size=(len(captions), CLIP_DIM)), text=text,
                        text_image=np.arange(len(captions)), caption=np.array(captions),
                        meta={"dataset": "flickr8k (bench)"})


class _Enough(Exception):
    """Raised from the trainer's step callback once the timed steps are done."""


def timed_steps(config: TrainConfig, n_pairs: int, steps: int) -> int:
    """Timed steps that fit in the first epoch (after the warm-up step, before the epoch's end and its checkpoint)."""
    return max(1, min(steps, -(-n_pairs // config.batch_size) - 2))


def trainer_speed(config: TrainConfig, lengths: np.ndarray, steps: int) -> tuple[float, float, float]:
    """Captions/s, target tokens/s and captions per CPU second of the real trainer over ``steps`` steps
    after a warm-up step (CPU seconds of this process, all its threads: a load-independent measure of work).

    ``lengths`` (n_pairs,) are the target lengths of the pairs (``target="same"``: of the captions);
    the timed batches are the epoch's 2nd to ``steps + 1``-th. The clock reads after the device has
    finished step 1 and step ``steps + 1`` (the only host waits added to the trainer's loop).
    """
    device = torch.device(config.device)
    marks = {}

    def on_step(event: dict) -> None:
        if event["step"] in (1, steps + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            marks[event["step"]] = (time.perf_counter(), time.process_time())
            if event["step"] == steps + 1:
                raise _Enough

    try:
        train(config, overwrite=True, on_step=on_step)
    except _Enough:
        pass
    if steps + 1 not in marks:
        raise RuntimeError(f"the epoch ended before step {steps + 1}: use fewer steps")
    seconds, cpu = (b - a for a, b in zip(marks[1], marks[steps + 1]))
    batches = epoch_batches(len(lengths), config.batch_size, seed=config.seed, epoch=0, lengths=lengths,
                            window=config.length_window)[1 : steps + 1]
    captions = sum(len(b) for b in batches)
    return captions / seconds, sum(int(lengths[b].sum()) for b in batches) / seconds, captions / cpu


def global_padding_speed(config: TrainConfig, eset: EmbeddingSet, tokenizer, steps: int, device) -> tuple[float, float]:
    """Captions/s and per CPU second of steps padded to the dataset's longest caption (the reference's way)."""
    ids, lengths = encode_captions(tokenizer, eset.caption, max_tokens=config.max_tokens)
    ids_t = torch.from_numpy(ids).long().to(device)
    mask_t = torch.from_numpy((np.arange(ids.shape[1]) < lengths[:, None]).astype(np.int64)).to(device)
    x = torch.from_numpy(eset.text.astype(np.float32)).to(device)
    torch.manual_seed(0)
    model = ClipCapModel(config.model_config(CLIP_DIM), load_decoder(config.decoder)).to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    order = np.random.default_rng(0).permutation(len(ids))
    seconds = cpu = 0.0
    for step in range(steps + 1):
        rows = torch.from_numpy(order[step * config.batch_size : (step + 1) * config.batch_size]).to(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        with autocast:
            _, loss = model(x[rows], ids_t[rows], mask_t[rows])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # wait for the device
        if step:  # the first step warms up
            seconds += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    return config.batch_size * steps / seconds, config.batch_size * steps / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per way (after one warm-up step)")
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--layers", type=int, default=None, help="decoder layers (default: GPT-2 small's 12)")
    parser.add_argument("--width", type=int, default=None, help="decoder width (default: GPT-2 small's 768)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="also time the grouped run while N competing CPU-bound processes run")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if not (DATA / "gpt2_bpe" / "vocab.json").exists():
        raise SystemExit(f"needs the GPT-2 BPE files and Flickr8k captions in {DATA}")
    from transformers import GPT2TokenizerFast

    from gaptools.device import resolve_device

    device = resolve_device(args.device)
    tokenizer = GPT2TokenizerFast.from_pretrained(str(DATA / "gpt2_bpe"))
    assert tokenizer.encode(".") == [13], "not the GPT-2 vocabulary"
    eset = flickr_set(flickr_captions())
    lengths = encode_captions(tokenizer, eset.caption, max_tokens=TrainConfig.max_tokens)[1]
    shape = {k: v for k, v in (("n_layer", args.layers), ("n_embd", args.width)) if v is not None}
    if args.width is not None:
        shape["n_head"] = max(1, args.width // 64)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        init_decoder(Path(tmp) / "decoder", tokenizer, **shape)
        data = save_set(eset, Path(tmp) / "flickr.npz")

        def config(window: int) -> TrainConfig:
            return TrainConfig(str(data), str(Path(tmp) / f"run{window}"), target="same", decoder=str(Path(tmp) / "decoder"),
                               batch_size=args.batch_size, epochs=1, warmup=0, log_every=NO_LOG, device=str(device),
                               length_window=window)

        grouped = config(TrainConfig.length_window)
        steps = timed_steps(grouped, len(lengths), args.steps)
        for name, window in (("grouped by length", TrainConfig.length_window), ("per-batch padding", 0)):
            batches = epoch_batches(len(lengths), args.batch_size, seed=0, epoch=0, lengths=lengths, window=window)
            rows.append((name, *trainer_speed(config(window), lengths, steps), padding_fraction(batches, lengths)))
        glob, glob_cpu = global_padding_speed(grouped, eset, tokenizer, steps, device)
        rows.append(("global padding", glob, float("nan"), glob_cpu, 1 - lengths.mean() / lengths.max()))
        if args.busy:
            with busy(args.busy):
                loaded = trainer_speed(grouped, lengths, steps)
            rows.append((f"grouped, {args.busy} busy processes", *loaded, rows[0][4]))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} torch threads"
    policy = ", ".join(f"{k}={v}" for k, v in THREAD_SETTINGS.items()) or "all set by the user"
    print(f"device: {where}; torch {torch.__version__}; thread settings: {policy}; {load_average()} at the end")
    print(f"decoder: GPT-2 {'small' if not shape else shape} (random weights), batch {args.batch_size}, prefix "
          f"{PREFIX_LENGTH}, MLP mapper; {steps} timed steps per way; Flickr8k target tokens (EOS included): "
          f"mean {lengths.mean():.1f}, max {lengths.max()}; length window {TrainConfig.length_window} batches")
    print(f"{'way':<36}{'captions/s':>12}{'tokens/s':>11}{'padding':>9}{'vs per-batch':>14}"
          f"{'captions/CPU-s':>16}{'vs per-batch':>14}")
    for name, samples, tokens, per_cpu, padding in rows:
        print(f"{name:<36}{samples:>12.1f}{tokens:>11.0f}{padding:>8.0%}{samples / rows[1][1]:>13.2f}x"
              f"{per_cpu:>16.2f}{per_cpu / rows[1][3]:>13.2f}x")
    if args.busy:
        print(f"busy / quiet (grouped): {rows[-1][1] / rows[0][1]:.2f} of the quiet speed "
              f"({rows[0][1] / rows[-1][1]:.2f}x slower)")


if __name__ == "__main__":
    main()
