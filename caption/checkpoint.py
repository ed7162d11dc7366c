"""The run folder: config, log, atomic checkpoints, the final model, and :func:`load_run`.

Layout of a run folder::

    config.json       every training setting, the data's meta, clip_dim, the C3 text mean
    log.jsonl         one JSON object a line: step, epoch (1-based, as printed), loss, lr, samples_per_s,
                      tokens_per_s (or val_loss)
    tokenizer/        the decoder's tokenizer (generation needs nothing else)
    checkpoint.pt     the last checkpoint (model, optimizer, position in the data), replaced atomically
    final/            model.pt (state dict) and model.json (ClipCapConfig + decoder config)

Nothing is ever unpickled: checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from gaptools.atomic import atomic_write, write_json
from gaptools.errors import InputError
from gaptools.io import read_torch
from gaptools.outputs import TRAIN_RUN, building_folder, check_output_folder, clear_folder, folder_kind, write_marker

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
    """The run's ``config.json``."""
    path = Path(run_dir) / CONFIG
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing; {run_dir} is not a run folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


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


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``checkpoint.pt`` atomically."""
    import torch

    with atomic_write(Path(run_dir) / CHECKPOINT, "wb") as fh:
        torch.save(state, fh)


def load_checkpoint(run_dir: str | os.PathLike, device="cpu") -> dict | None:
    """The last checkpoint of a run, or None when none was written yet.

    Raises
    ------
    InputError
        The file is corrupt or holds anything but weights and plain values.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    return read_torch(path, device)


def save_final(run_dir: str | os.PathLike, model) -> Path:
    """Write ``final/`` (state dict and the configs that rebuild the model) all at once.

    The files go to a temporary folder first, which is swapped in as ``final`` when complete
    (:func:`gaptools.outputs.building_folder`).
    """
    import torch

    final = Path(run_dir) / FINAL
    with building_folder(final, replace=True) as tmp:
        torch.save(model.state_dict(), tmp / "model.pt")
        write_json(tmp / "model.json", {"clipcap": dataclasses.asdict(model.config),
                                        "decoder_config": model.decoder.config.to_dict()})
    return final


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
    run_config = read_config(run_dir)
    try:
        spec = json.loads((final / "model.json").read_text(encoding="utf-8"))
        config = ClipCapConfig(**spec["clipcap"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{final / 'model.json'}: missing or invalid ({type(exc).__name__}: {exc})") from None
    model = ClipCapModel(config, decoder_from_config(spec["decoder_config"]))
    try:
        model.load_state_dict(read_torch(final / "model.pt", "cpu"))
    except RuntimeError as exc:
        raise InputError(f"{final / 'model.pt'}: does not match {final / 'model.json'} ({exc})") from None
    tokenizer = load_tokenizer(run_dir / TOKENIZER)
    return model.to(device).eval(), tokenizer, run_config
