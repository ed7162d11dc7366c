"""The run folder: config, log, atomic checkpoints, the final model, and :func:`load_run`.

Layout of a run folder::

    config.json       every training setting, the data's meta, clip_dim, the C3 text mean
    log.jsonl         one JSON object a line: step, epoch (1-based, as printed), loss, lr, samples_per_s,
                      tokens_per_s (or val_loss)
    tokenizer/        the decoder's tokenizer (generation needs nothing else)
    checkpoint.pt     the last checkpoint (model, optimizer, position in the data, its own SHA-256),
                      replaced atomically
    final/            model.pt (state dict) and model.json (ClipCapConfig + decoder config), and
                      checksums.json: the SHA-256 of those two, config.json and every tokenizer file

Nothing is ever unpickled: checkpoints load with ``torch.load(weights_only=True)``. :func:`load_run`
verifies every file ``final/checksums.json`` names (a run finished before checksums existed has
none and is validated by value only), then every value it uses against what training writes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

from gaptools.align.persist import UNIT_SLACK
from gaptools.atomic import atomic_write, write_json
from gaptools.checksums import folder_files, verify_manifest, write_manifest
from gaptools.datasets.files import read_json
from gaptools.errors import InputError
from gaptools.io import read_torch
from gaptools.outputs import TRAIN_RUN, building_folder, check_output_folder, clear_folder, folder_kind, write_marker
from gaptools.validation import is_finite_number

CONFIG = "config.json"
LOG = "log.jsonl"
TOKENIZER = "tokenizer"
CHECKPOINT = "checkpoint.pt"
FINAL = "final"
RUN_FILES = (CONFIG, LOG, TOKENIZER, CHECKPOINT, FINAL)


def prepare_run_dir(run_dir: str | os.PathLike, *, resume: bool, overwrite: bool, inputs=()) -> bool:
    """Check the output folder (:func:`gaptools.outputs.check_output_folder`), clear it for ``overwrite``, mark it.

    Parameters
    ----------
    run_dir : path-like
    resume, overwrite : bool
        The ``--resume`` and ``--overwrite`` flags (not both). A run that stopped before its
        first checkpoint holds no training and is replaced without ``overwrite``.
    inputs : iterable of path-like
        What the run reads (data, validation set, decoder folder): never inside ``run_dir``.

    Returns
    -------
    bool
        True when an earlier run is to be continued (``resume``).
    """
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if resume:
        if run_dir.exists() and not run_dir.is_dir():
            raise InputError(f"{run_dir}: exists and is not a folder")
        if not (run_dir / CONFIG).is_file() or folder_kind(run_dir) != TRAIN_RUN:
            raise InputError(f"{run_dir}: no run to resume (no {CONFIG})", hint="drop --resume to start a new run")
        return True
    held = check_output_folder(run_dir, kind=TRAIN_RUN, option="--output", inputs=inputs, overwrite=overwrite,
                               replaceable=_never_trained,
                               hint="pass --resume to continue it or --overwrite to replace it")
    if held:
        others = sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_FILES and not p.name.startswith("."))
        if others:
            raise InputError(f"{run_dir}: holds files a run does not write ({', '.join(others[:5])}); nothing removed",
                             hint="move them away, or choose a new folder")
        clear_folder(run_dir, TRAIN_RUN)
    write_marker(run_dir, TRAIN_RUN)
    return False


def _never_trained(run_dir: Path) -> bool:
    """True for a run that stopped before its first checkpoint: nothing in it is worth keeping."""
    return not (run_dir / CHECKPOINT).exists() and not (run_dir / FINAL).exists()


def read_config(run_dir: str | os.PathLike) -> dict:
    """The run's ``config.json`` (an object; too deep, duplicate keys or a list: one line)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise InputError(f"{path}: missing; {run_dir} is not a run folder")
    return _json_object(path)


def _json_object(path: Path) -> dict:
    config = read_json(path)
    if not isinstance(config, dict):
        raise InputError(f"{path}: must be a JSON object, got {type(config).__name__}")
    return config



def check_run_config(config: dict, path: str | os.PathLike) -> dict:
    """Refuse a run config whose input-transform values training could not have written.

    ``source`` is "text" or "image"; ``normalize`` and ``subtract_text_mean`` are booleans
    (``"no"`` is not); ``clip_dim`` an integer >= 1 (``"512"`` is not); ``noise_variance`` a
    finite number >= 0; ``text_mean`` null or ``clip_dim`` finite numbers, inside the unit ball
    when inputs are normalised (a mean of unit vectors).

    Returns
    -------
    dict
        ``config``.
    """
    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise InputError(f"{path}: '{key}' must be {expected}, got {config.get(key)!r:.80}",
                             hint="was this file written by caption train?")

    need(config.get("source") in ("text", "image"), "source", '"text" or "image"')
    need(isinstance(config.get("normalize"), bool), "normalize", "true or false")
    need(isinstance(config.get("subtract_text_mean", False), bool), "subtract_text_mean", "true or false")
    dim = config.get("clip_dim")
    need(isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1, "clip_dim", "an integer >= 1")
    noise = config.get("noise_variance", 0.0)
    need(is_finite_number(noise) and noise >= 0, "noise_variance", "a finite number >= 0")
    mean = config.get("text_mean")
    if mean is not None:
        need(isinstance(mean, list) and len(mean) == dim and all(map(is_finite_number, mean)), "text_mean",
             f"null or a list of clip_dim ({dim}) finite numbers")
        norm = math.sqrt(sum(float(v) ** 2 for v in mean))
        if config["normalize"] and norm > 1 + UNIT_SLACK:
            raise InputError(f"{path}: 'text_mean' has norm {norm:.4g}, but it is a mean of unit vectors "
                             "(normalize is true), so it lies in the unit ball")
    return config


def write_config(run_dir: str | os.PathLike, config: dict) -> None:
    """Write the run's ``config.json`` atomically."""
    write_json(Path(run_dir) / CONFIG, config)


def append_log(run_dir: str | os.PathLike, record: dict) -> None:
    """Append one JSON line to ``log.jsonl``."""
    with open(Path(run_dir) / LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def read_log(run_dir: str | os.PathLike) -> list[dict]:
    """Every record of ``log.jsonl`` (empty when there is none)."""
    path = Path(run_dir) / LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_log(run_dir: str | os.PathLike, step: int) -> None:
    """Drop log records after ``step`` (work redone after a resume), atomically."""
    kept = [r for r in read_log(run_dir) if r["step"] <= step]
    with atomic_write(Path(run_dir) / LOG, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in kept)


#: Key of the checkpoint's own SHA-256 inside ``checkpoint.pt`` (one file, replaced atomically: no window
#: in which a digest elsewhere could disagree with a checkpoint a kill left behind).
CHECKPOINT_SHA256 = "sha256"


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``checkpoint.pt`` atomically, with its SHA-256."""
    import torch

    with atomic_write(Path(run_dir) / CHECKPOINT, "wb") as fh:
        torch.save({**state, CHECKPOINT_SHA256: state_sha256(state)}, fh)


def state_sha256(obj) -> str:
    """Hex SHA-256 of a checkpoint's content: every tensor's dtype, shape and bytes, every plain value, in key order."""
    import hashlib

    import torch

    digest = hashlib.sha256()

    def visit(value) -> None:
        if isinstance(value, torch.Tensor):
            flat = value.detach().reshape(-1).contiguous().cpu()
            digest.update(f"T{flat.dtype}{tuple(value.shape)};".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            digest.update(f"D{len(value)};".encode())
            for key in sorted(value, key=repr):
                digest.update(f"{key!r}:".encode())
                visit(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(f"L{len(value)};".encode())
            for item in value:
                visit(item)
        else:
            digest.update(f"V{value!r};".encode())

    visit(obj)
    return digest.hexdigest()


def load_checkpoint(run_dir: str | os.PathLike, device="cpu") -> dict | None:
    """The last checkpoint of a run, or None when none was written yet.

    A checkpoint records its own SHA-256 (:func:`state_sha256`), verified here; one written before
    that existed has none and is checked by the model and optimizer it is loaded into.

    Raises
    ------
    InputError
        The file is corrupt, holds anything but weights and plain values, or changed after it was written.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    state = read_torch(path, "cpu")  # verified where the bytes are readable (a meta device holds none)
    if not isinstance(state, dict):
        raise InputError(f"{path}: not a checkpoint (a {type(state).__name__})")
    recorded = state.pop(CHECKPOINT_SHA256, None)
    if recorded is not None and recorded != state_sha256(state):
        raise InputError(f"{path}: changed after it was written (its SHA-256 differs)",
                         hint="restore it, or start the run anew with --overwrite")
    return _on_device(state, device)


def _on_device(value, device):
    """``value`` (nested dicts/lists of tensors and plain values) with every tensor moved to ``device``."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _on_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_device(item, device) for item in value)
    return value


def save_final(run_dir: str | os.PathLike, model) -> Path:
    """Write ``final/`` (state dict and the configs that rebuild the model) all at once.

    The files go to a temporary folder first, which is swapped in as ``final`` when complete
    (:func:`gaptools.outputs.building_folder`).
    """
    import torch

    run_dir = Path(run_dir)
    final = run_dir / FINAL
    with building_folder(final, replace=True) as tmp:
        torch.save(model.state_dict(), tmp / "model.pt")
        write_json(tmp / "model.json", {"clipcap": dataclasses.asdict(model.config),
                                        "decoder_config": model.decoder.config.to_dict()})
        write_manifest(tmp, {**_config_files(run_dir), f"{FINAL}/model.pt": tmp / "model.pt",
                             f"{FINAL}/model.json": tmp / "model.json"})
    return final


def _config_files(run_dir: Path) -> dict:
    """``config.json`` and the tokenizer's files, by their names in the run folder."""
    return {CONFIG: run_dir / CONFIG, **folder_files(run_dir / TOKENIZER, prefix=f"{TOKENIZER}/")}


def load_run(run_dir: str | os.PathLike, device="cpu"):
    """Load a finished run: the model, its tokenizer and its config.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``caption train`` that holds ``final/``.
    device : str or torch.device

    Returns
    -------
    model : ClipCapModel
        In eval mode, on ``device``. Nothing is downloaded: the decoder is rebuilt from its
        stored config and the weights loaded with ``weights_only=True``.
    tokenizer : transformers.PreTrainedTokenizerBase
    run_config : dict
        The run's ``config.json``: every flag, ``source``, ``target``, ``noise_variance``,
        ``normalize``, ``text_mean`` (list of D floats, or None; see
        :func:`gaptools.caption.data.prepare_inputs`, which applies the same input transform), ``data_meta``, ``clip_dim``.
    """
    from gaptools.caption.model import ClipCapConfig, ClipCapModel, decoder_from_config
    from gaptools.caption.tokenizer import load_tokenizer

    run_dir = Path(run_dir)
    final = run_dir / FINAL
    if not (final / "model.pt").is_file():
        raise InputError(f"{run_dir}: no finished model ({final}/model.pt is missing)",
                         hint="train to the end, or resume the run with caption train --resume")
    verify_manifest(final, root=run_dir)  # before anything is read: a changed file is named, not used
    run_config = check_run_config(read_config(run_dir), run_dir / CONFIG)
    spec_path = final / "model.json"
    if not spec_path.is_file():
        raise InputError(f"{spec_path}: missing")
    spec = _json_object(spec_path)
    if not isinstance(spec.get("clipcap"), dict) or not isinstance(spec.get("decoder_config"), dict):
        raise InputError(f"{spec_path}: must hold the objects 'clipcap' and 'decoder_config'")
    fields = {f.name for f in dataclasses.fields(ClipCapConfig)}
    unknown = sorted(set(spec["clipcap"]) - fields)
    if unknown or "clip_dim" not in spec["clipcap"]:
        raise InputError(f"{spec_path}: 'clipcap' has unknown field(s) {', '.join(unknown)} or lacks clip_dim")
    try:
        config = ClipCapConfig(**spec["clipcap"])
        if config.clip_dim != run_config["clip_dim"]:
            raise InputError(f"clip_dim {config.clip_dim} but {run_dir / CONFIG} says {run_config['clip_dim']}")
        model = ClipCapModel(config, decoder_from_config(spec["decoder_config"], source=str(spec_path)))
    except InputError as exc:
        message = exc.message if exc.message.startswith(str(spec_path)) else f"{spec_path}: {exc.message}"
        raise InputError(message, hint=exc.hint) from None
    model.load_state_dict(_check_weights(read_torch(final / "model.pt", "cpu"), model, final / "model.pt", spec_path))
    tokenizer = load_tokenizer(run_dir / TOKENIZER)
    return model.to(device).eval(), tokenizer, run_config


def _check_weights(state, model, path: Path, spec_path: Path) -> dict:
    """``state`` when it is the model's state dict: the same names and shapes, finite floats; else one line."""
    import torch

    if not isinstance(state, dict):
        raise InputError(f"{path}: not a state dict (a {type(state).__name__})")
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        what = f"lacks '{missing[0]}'" if missing else f"has '{extra[0]}', which the model has not"
        raise InputError(f"{path}: does not match {spec_path}: it {what} "
                         f"({len(missing)} missing, {len(extra)} unexpected tensors)")
    for name, want in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise InputError(f"{path}: does not match {spec_path}: '{name}' is {shape}, the model needs "
                             f"{tuple(want.shape)}")
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise InputError(f"{path}: '{name}' holds NaN or Inf")
    return state
