"""Everything the first GPU must show, as one command and one table (also written as JSON).

    python bench/device.py                        # on a cuda machine: < 8 min on one H200; writes out/device
    python bench/device.py --device cpu --quick   # the same script at toy size on the CPU (tested); out/device-quick

Steps, each in its own process with its own time budget, so that a failure, a hang or an
out-of-memory in one is reported in the table and the others still run:

1. ``versions``: torch, CUDA, driver, device name (printed first).
2. ``train``: ``caption train`` (the real trainer) at GPT-2-small shape with random weights, the real
   GPT-2 BPE and all 40,460 Flickr8k captions from ../shared/data (random unit CLIP embeddings),
   bf16 autocast on cuda, length-grouped batches: captions/s and target tokens/s at batch 40 and
   at the largest batch that fits among a few tries (goal on one H200: >= 5,000 captions/s).
3. ``decode``: batched greedy and beam-5 decoding (:func:`gaptools.caption.generate.generate`: static cache
   and CUDA graphs on cuda) at batch 64 and 512, 20 new tokens, against Hugging Face ``generate``
   on the same model and prefixes, same process; our dynamic-cache eager path as a third column
   (goal on one H200: >= 3x ``generate`` at batch 64).
4. ``embed``: :func:`gaptools.embed.embed_dataset` (what ``gaptools embed`` runs) with a random
   ViT-B-32 on synthetic JPEGs: images/s, the share of the wall time the image model runs, and
   the GPU utilisation sampled by ``nvidia-smi`` when present.
5. ``reproduce``: ``gaptools reproduce coco --quick`` end to end on the device, through the command
   line, on the shapes world written as a COCO-format (Karpathy) set, with a tiny decoder: wall time.
6. ``torchrun``: ``caption train`` under ``torchrun --nproc_per_node 1`` (NCCL on cuda, gloo on the
   CPU): the DistributedDataParallel path runs end to end.

Nothing needs the internet. ``--quick`` shrinks every size (toy model widths, a few captions and
images) so that the CPU run is a plumbing check, not a measurement.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # bench/train.py's helpers, bench/shared_data.py
from shared_data import DATA  # noqa: E402

STEPS = ("versions", "train", "decode", "embed", "reproduce", "torchrun")
# seconds per step on the GPU (all together < 8 min) and on the CPU at --quick size
BUDGET = {"versions": 30, "train": 140, "decode": 90, "embed": 60, "reproduce": 100, "torchrun": 50}
QUICK_BUDGET = {"versions": 300, "train": 900, "decode": 900, "embed": 900, "reproduce": 1800, "torchrun": 900}
NEW_TOKENS, PREFIX_LENGTH, BEAM = 20, 10, 5


# ----------------------------------------------------------------------------------------- orchestration


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--out`` defaults to ``out/device`` (``out/device-quick`` with ``--quick``), made absolute."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for device.json, device.txt and each step's output "
                        "(default: out/device, or out/device-quick with --quick)")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cuda, cpu")
    parser.add_argument("--quick", action="store_true", help="toy sizes: a plumbing check in minutes on the CPU")
    parser.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # internal: run one step in this process
    args = parser.parse_args(argv)
    # absolute: the steps run with the repository as their working folder, whatever the caller's is
    args.out = (args.out or Path("out") / ("device-quick" if args.quick else "device")).resolve()
    return args


def main() -> None:
    args = parse_args()
    if args.step:
        _run_step(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    budgets = QUICK_BUDGET if args.quick else BUDGET
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "device": args.device, "quick": args.quick, "steps": {}}
    lines: list[str] = []
    for name in args.only or STEPS:
        result = _child(name, args, budgets[name])
        report["steps"][name] = result
        new = _rows(name, result)
        if not lines:
            new.insert(0, _header())
        for line in new:
            print(line, flush=True)
        lines += new
        _write(args.out, report, lines)
    failed = [n for n, r in report["steps"].items() if r["status"] != "ok"]
    print(f"\n{len(report['steps']) - len(failed)} of {len(report['steps'])} steps ok"
          + (f"; not ok: {', '.join(failed)}" if failed else "") + f"; written to {args.out}")
    sys.exit(1 if failed else 0)


def _child(name: str, args, budget: float) -> dict:
    """Run one step as ``python bench/device.py --step NAME`` within ``budget`` seconds."""
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    result_file = out / "result.json"
    result_file.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--step", name, "--out", str(out), "--device", args.device]
    if args.quick:
        command.append("--quick")
    start = time.perf_counter()
    with open(out / "log.txt", "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        try:
            code = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            _stop(proc)
            code = None
    seconds = time.perf_counter() - start
    if code is None:
        return {"status": "timed out", "seconds": seconds, "error": f"over its {budget:.0f} s budget", "log": _tail(out)}
    if code != 0 or not result_file.exists():
        return {"status": "failed", "seconds": seconds, "error": f"exit code {code}", "log": _tail(out)}
    return {"status": "ok", "seconds": seconds, **json.loads(result_file.read_text())}


def _stop(proc: subprocess.Popen) -> None:
    """End a step and what it started: SIGTERM to its process group (torchrun passes it on to its
    workers, which run in sessions of their own), SIGKILL after a grace period."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _tail(out: Path, lines: int = 6) -> str:
    log = (out / "log.txt").read_text(errors="replace").strip().splitlines()
    return "\n".join(log[-lines:])


def _header() -> str:
    return f"{'step':<10} {'measurement':<56} {'value':<44} note"


def _row(step: str, what: str, value: str, note: str = "") -> str:
    return f"{step:<10} {what:<56} {value:<44} {note}".rstrip()


def _rows(name: str, result: dict) -> list[str]:
    """The table lines of one step's result."""
    if result["status"] != "ok":
        last = result.get("log", "").splitlines()[-1:] or [""]
        return [_row(name, f"{result['status']} after {result['seconds']:.0f} s", result["error"], last[0][:120])]
    rows = [_row(name, *r) for r in result.get("rows", [])]
    rows.append(_row(name, "step wall time", f"{result['seconds']:.1f} s"))
    return rows


def _write(out: Path, report: dict, lines: list[str]) -> None:
    (out / "device.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "device.txt").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------- steps


def _run_step(args) -> None:
    """In the child: run one step, write ``result.json`` (``rows`` for the table plus raw figures)."""
    from gaptools.threads import configure

    configure()  # as the CLI does
    import torch

    from gaptools.device import resolve_device

    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32, as caption train does on cuda
    result = STEP_FUNCTIONS[args.step](args, device)
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")


def step_versions(args, device) -> dict:
    import torch
    import transformers

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
            "python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))}
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["device_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
        info["driver"] = _nvidia_smi("driver_version")
    else:
        info["device_name"] = f"{platform.processor() or platform.machine()} CPU"
        info["driver"] = None
    rows = [("device", info["device_name"] + (f", {info['device_memory_gib']} GiB" if device.type == "cuda" else "")),
            ("torch / CUDA / driver", f"{info['torch']} / {info['cuda']} / {info['driver']}"),
            ("transformers / python / CPUs", f"{info['transformers']} / {info['python']} / {info['cpus']}")]
    return {"rows": rows, **info}


def _nvidia_smi(field: str) -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _gpt2_shape(quick: bool) -> dict:
    """GPT2Config fields: GPT-2 small (the defaults) or, with --quick, a toy width."""
    return dict(n_layer=2, n_embd=64, n_head=2) if quick else {}


def _num(x: float) -> str:
    """A rate for the table: thousands separated, three significant digits below 100."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _tokenizer():
    from transformers import GPT2TokenizerFast

    if not (DATA / "gpt2_bpe" / "vocab.json").exists():
        raise SystemExit(f"needs the GPT-2 BPE files in {DATA / 'gpt2_bpe'}")
    tokenizer = GPT2TokenizerFast.from_pretrained(str(DATA / "gpt2_bpe"))
    assert tokenizer.encode(".") == [13], "not the GPT-2 vocabulary"
    return tokenizer


def step_train(args, device) -> dict:
    """The real trainer at batch 40 and at the largest batch that fits among a few tries."""
    import torch
    from train import flickr_captions, flickr_set, timed_steps, trainer_speed

    from gaptools.caption.config import TrainConfig
    from gaptools.caption.model import init_decoder
    from gaptools.caption.tokenizer import encode_captions
    from gaptools.io import save_set

    tokenizer = _tokenizer()
    captions = flickr_captions()[: 400 if args.quick else None]
    eset = flickr_set(captions)
    lengths = encode_captions(tokenizer, eset.caption, max_tokens=TrainConfig.max_tokens)[1]
    torch.manual_seed(0)
    init_decoder(args.out / "decoder", tokenizer, **_gpt2_shape(args.quick))
    data = save_set(eset, args.out / "flickr8k.npz")
    tries = [40] + ([80, 16] if args.quick else [8192, 4096, 2048, 1024, 512])  # the largest that fits wins
    steps = 2 if args.quick else 8
    results, rows, largest = {}, [], None
    for batch in tries:
        if largest is not None:
            break
        config = TrainConfig(str(data), str(args.out / f"run{batch}"), target="same", decoder=str(args.out / "decoder"),
                             batch_size=batch, epochs=1, warmup=0, log_every=10**9, device=str(device))
        n = timed_steps(config, len(lengths), steps)
        try:
            samples, tokens, _ = trainer_speed(config, lengths, n)
        except torch.OutOfMemoryError:
            results[batch] = "out of memory"
        if results.get(batch) == "out of memory":
            gc.collect()  # the failed run's tensors are free once its traceback is gone
            torch.cuda.empty_cache()
            continue
        results[batch] = {"captions_per_s": samples, "tokens_per_s": tokens, "timed_steps": n}
        if batch != tries[0]:
            largest = batch
        memory = f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else ""
        rows.append((f"caption train batch {batch}{' (largest that fit)' if largest else ''}",
                     f"{_num(samples)} captions/s, {_num(tokens)} tokens/s",
                     f"{n} steps{memory}" + ("; goal >= 5,000 captions/s on one H200" if batch == 40 else "")))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
    if device.type == "cuda":
        syncs = _host_syncs(TrainConfig(str(data), str(args.out / "syncs"), target="same", decoder=str(args.out / "decoder"),
                                        batch_size=40, epochs=1, warmup=0, log_every=10**9, device=str(device)), 5)
        results["host_syncs_in_5_steps"] = syncs
        rows.append(("caption train: host syncs in 5 steps (batch 40)", str(syncs),
                     "torch.cuda.set_sync_debug_mode; goal 0"))
    tried = ", ".join(f"{b}: {'ok' if isinstance(r, dict) else r}" for b, r in results.items() if isinstance(b, int))
    rows.append(("batch sizes tried", tried, "bf16 autocast" if device.type == "cuda" else "float32 on the CPU"))
    return {"rows": rows, "results": {str(k): v for k, v in results.items()},
            "model": "GPT-2 small" if not args.quick else "toy GPT-2 (--quick)",
            "mean_target_tokens": float(lengths.mean())}


def _host_syncs(config, steps: int) -> int:
    """Operations that made the host wait for the GPU during ``steps`` training steps after the first."""
    import warnings

    import torch
    from train import _Enough

    from gaptools.caption.train import train

    def on_step(event: dict) -> None:
        if event["step"] == 1:
            torch.cuda.set_sync_debug_mode("warn")
        elif event["step"] == 1 + steps:
            torch.cuda.set_sync_debug_mode("default")
            raise _Enough

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            train(config, overwrite=True, on_step=on_step)
        except _Enough:
            pass
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def _timed(fn, device) -> tuple[object, float]:
    """``fn()`` and its wall seconds, the device finished."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def step_decode(args, device) -> dict:
    """Ours (static cache + CUDA graphs on cuda) vs our dynamic eager path vs Hugging Face generate."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from gaptools.caption.generate import generate

    torch.manual_seed(0)
    shape = dict(_gpt2_shape(True), vocab_size=1000) if args.quick else {}
    decoder = GPT2LMHeadModel(GPT2Config(**shape)).to(device).eval()
    batches = (2, 4) if args.quick else (64, 512)
    chunks = 2 if args.quick else 4  # prefixes per call: several batches, so one-time costs (graph capture) amortise
    rows, results = [], {}
    for batch in batches:
        prefix = torch.randn(batch * chunks, PREFIX_LENGTH, decoder.config.n_embd, device=device)
        mask = torch.ones(batch, PREFIX_LENGTH, dtype=torch.long, device=device)
        for beam in (1, BEAM):
            def ours(cache="auto"):
                return generate(decoder, prefix, eos_token_id=None, beam=beam, max_length=NEW_TOKENS,
                                batch_size=batch, cache=cache)

            def hf():
                out = []
                with torch.inference_mode():
                    for lo in range(0, prefix.shape[0], batch):
                        out += decoder.generate(inputs_embeds=prefix[lo : lo + batch], attention_mask=mask,
                                                max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                                                num_beams=beam, length_penalty=1.0, pad_token_id=0).tolist()
                return out

            times = {}
            for name, fn in (("ours", ours), ("ours_dynamic", lambda: ours("dynamic")), ("hf", hf)):
                fn()  # warm-up (and, for ours on cuda, nothing is kept: each call captures its own graphs)
                tokens, seconds = _timed(fn, device)
                times[name] = (tokens, seconds)
            n = prefix.shape[0]
            speed = {k: n / s for k, (_, s) in times.items()}
            same = sum(a == b for a, b in zip(times["ours"][0], times["hf"][0]))
            key = f"{'greedy' if beam == 1 else f'beam {beam}'} batch {batch}"
            results[key] = {"captions_per_s": speed, "same_tokens_as_hf": same, "captions": n}
            rows.append((f"decode {key}", f"{_num(speed['ours'])} cap/s = {speed['ours'] / speed['hf']:.2f}x HF generate",
                         f"HF {_num(speed['hf'])}/s, ours dynamic eager {_num(speed['ours_dynamic'])}/s; "
                         f"same tokens as HF {same}/{n}" + ("; goal >= 3x at batch 64" if batch == batches[0] else "")))
    return {"rows": rows, "results": results, "new_tokens": NEW_TOKENS, "prefix_length": PREFIX_LENGTH}


def _synthetic_images(folder: Path, n_files: int, size: tuple[int, int]) -> list[str]:
    """Smooth random JPEGs (gradients and rectangles, sized like photos), so decoding costs what photos cost."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    width, height = size
    names = []
    for i in range(n_files):
        ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(0, 255, 3) + \
            np.linspace(0, 1, height)[:, None, None] * rng.uniform(0, 255, 3)
        image = Image.fromarray(np.clip(ramp / 2, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.integers(0, width - 20), rng.integers(0, height - 20)
            draw.rectangle([x, y, x + rng.integers(10, width // 3), y + rng.integers(10, height // 3)],
                           fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        names.append(f"{i}.jpg")
        image.save(folder / names[-1], quality=90)
    return names


def step_embed(args, device) -> dict:
    """Images/s of embed_dataset with a random ViT-B-32; share of wall time in the image model; GPU utilisation."""
    import threading

    import torch

    from gaptools.datasets import group_captions, resolve_images
    from gaptools.embed import embed_dataset, load_encoder

    folder = args.out / "images"
    folder.mkdir(exist_ok=True)
    files = _synthetic_images(folder, 8 if args.quick else 256, (320, 240) if args.quick else (640, 480))
    n_images = 16 if args.quick else 4096
    entries = [(str(i), files[i % len(files)], f"a synthetic picture number {i} with a few coloured boxes", "")
               for i in range(n_images)]
    records, _ = resolve_images(group_captions(entries, dataset="synthetic", source=str(folder / "list")), folder)
    encoder = load_encoder("ViT-B-32", None, device=str(device))  # random weights: nothing downloaded
    in_model = []
    encode = encoder.encode_images

    def timed_encode(pixels):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = encode(pixels)
            end.record()
            in_model.append((start, end))
            return out
        start = time.perf_counter()
        out = encode(pixels)
        in_model.append(time.perf_counter() - start)
        return out

    encoder.encode_images = timed_encode
    samples, stop = [], threading.Event()
    sampler = None
    if device.type == "cuda" and _nvidia_smi("utilization.gpu") is not None:
        def sample():
            while not stop.is_set():
                value = _nvidia_smi("utilization.gpu")
                if value:
                    samples.append(float(value.split()[0]))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
    embed_dataset(records, encoder, args.out / "warmup.npz", progress=False)  # workers, cuDNN and allocator warm up
    in_model.clear()
    if sampler is not None:
        sampler.start()
    _, seconds = _timed(lambda: embed_dataset(records, encoder, args.out / "embedded.npz", progress=False), device)
    stop.set()
    model_seconds = sum(s.elapsed_time(e) / 1000 for s, e in in_model) if device.type == "cuda" else sum(in_model)
    utilisation = sum(samples) / len(samples) if samples else None
    rows = [("embed images/s (random ViT-B-32, synthetic JPEGs)", f"{_num(n_images / seconds)} images/s",
             f"{n_images} images {'320x240' if args.quick else '640x480'}, captions included in the time"),
            ("embed: share of wall time in the image model", f"{model_seconds / seconds:.0%}",
             f"GPU utilisation (nvidia-smi) {utilisation:.0f}%" if utilisation is not None else "no nvidia-smi samples")]
    return {"rows": rows, "images_per_s": n_images / seconds, "model_share": model_seconds / seconds,
            "gpu_utilisation": utilisation, "images": n_images}


def _tiny_world(out: Path):
    """The shapes world written as a COCO-format (Karpathy) set, and a tiny decoder trained on nothing yet."""
    from gaptools.caption.model import init_decoder
    from gaptools.caption.tokenizer import train_tokenizer
    from gaptools.world import WorldParams, generate_world, load_captions

    world = out / "world"
    generate_world(world, WorldParams(n_images=60, seed=3))
    texts = [s["raw"] for item in load_captions(world) for s in item["sentences"]]
    init_decoder(out / "decoder", train_tokenizer(texts, out / "decoder", vocab_size=300),
                 n_layer=1, n_embd=32, n_head=2, n_positions=80)
    return world / "captions.json", world / "images", out / "decoder"


def step_reproduce(args, device) -> dict:
    """``gaptools reproduce coco --quick`` through the command line, on this device."""
    from gaptools.demo import SHAPES_DIR

    annotations, images, decoder = _tiny_world(args.out)
    command = [sys.executable, "-m", "gaptools.cli.main", "reproduce", "coco", "--quick", "--annotations", str(annotations),
               "--images", str(images), "--model-config", str(SHAPES_DIR / "model.json"),
               "--pretrained", str(SHAPES_DIR / "checkpoint.pt"), "--decoder", str(decoder),
               "-o", str(args.out / "coco"), "--device", str(device)]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (args.out / "reproduce.log").write_text(proc.stdout + proc.stderr)
    report = args.out / "coco" / "report" / "index.html"
    if proc.returncode != 0 or not report.exists():
        raise SystemExit(f"gaptools reproduce coco --quick failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    rows = [("gaptools reproduce coco --quick (shapes world as COCO)", f"{seconds:.1f} s end to end",
             f"report written; --device {device}")]
    return {"rows": rows, "seconds": seconds}


def step_torchrun(args, device) -> dict:
    """``caption train`` under ``torchrun --nproc_per_node 1``: the DDP path with NCCL (cuda) or gloo (CPU)."""
    import torch
    from train import flickr_captions, flickr_set

    from gaptools.caption.model import init_decoder
    from gaptools.io import save_set

    tokenizer = _tokenizer()
    torch.manual_seed(0)
    init_decoder(args.out / "decoder", tokenizer, **_gpt2_shape(True))
    data = save_set(flickr_set(flickr_captions()[:200]), args.out / "flickr8k.npz")
    backend = "nccl" if device.type == "cuda" else "gloo"
    env = {**os.environ, "NCCL_DEBUG": "INFO", "TORCH_CPP_LOG_LEVEL": "INFO", "TORCH_DISTRIBUTED_DEBUG": "INFO"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
               "-m", "gaptools.cli.caption", "train", str(data), "-o", str(args.out / "run"), "--decoder", str(args.out / "decoder"),
               "--target", "same", "--epochs", "1", "--batch-size", "40", "--warmup", "0", "--device", str(device)]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (args.out / "torchrun.log").write_text(log)
    if proc.returncode != 0 or not (args.out / "run" / "final" / "model.pt").exists():
        raise SystemExit(f"torchrun caption train failed (exit {proc.returncode}): {log[-800:]}")
    ddp = re.search(r"DDP Initialized with:.*?backend_name: (\w+)", log, re.S)  # TORCH_CPP_LOG_LEVEL=INFO
    if ddp is None or ddp.group(1) != backend:
        raise SystemExit(f"the run did not report DistributedDataParallel on {backend} in {args.out / 'torchrun.log'}")
    nccl = " (NCCL INFO lines in the log)" if "NCCL INFO" in log else ""
    rows = [("torchrun --nproc_per_node 1 caption train", f"ok in {seconds:.1f} s",
             f"DDP initialised on {ddp.group(1)}{nccl}")]
    return {"rows": rows, "seconds": seconds, "backend": ddp.group(1)}


STEP_FUNCTIONS = {"versions": step_versions, "train": step_train, "decode": step_decode, "embed": step_embed,
                  "reproduce": step_reproduce, "torchrun": step_torchrun}

if __name__ == "__main__":
    main()
