"""Captioning starts offline: the docs' first demo commands run as printed with the network gone,
a hub id that cannot be had is refused at once in one line, and a run's missing file is a missing
file, never a hub lookup."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gaptools
from gaptools.caption import hub, shapes
from gaptools.demo import SHAPES_DIR, SHAPES_TEST, world_scenes
from gaptools.errors import InputError
from gaptools.world import score_captions

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "user_guide" / "captioning.md"
#: A hub endpoint that refuses every connection at once: the network "simply failing".
DEAD_ENDPOINT = "http://127.0.0.1:9"


def _demo_commands() -> list[str]:
    """The commands of the docs page's first bash block (its demo section), as printed."""
    block = re.search(r"^```bash\n(.*?)^```", DOCS.read_text(encoding="utf-8"), flags=re.M | re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def _offline_env(tmp_path: Path, *, offline_flag: bool) -> dict:
    """No hub: an empty Hugging Face cache, a refusing endpoint and proxies, and ``HF_HUB_OFFLINE`` if asked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf-home"), HF_ENDPOINT=DEAD_ENDPOINT, HTTPS_PROXY=DEAD_ENDPOINT,
               HTTP_PROXY=DEAD_ENDPOINT, https_proxy=DEAD_ENDPOINT, http_proxy=DEAD_ENDPOINT,
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="100")
    if offline_flag:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def _run(command: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """A docs command (``caption ...``) run by this interpreter (``-P``: the clone-like folder must not shadow the package)."""
    program, *args = shlex.split(command)
    assert program == "caption", command
    return subprocess.run([sys.executable, "-P", "-m", "gaptools.cli.caption", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A folder laid out like a fresh clone's root for the docs' relative paths (the shipped demo only)."""
    root = tmp_path_factory.mktemp("clone")
    (root / "gaptools" / "data").mkdir(parents=True)
    (root / "gaptools" / "data" / "shapes").symlink_to(SHAPES_DIR, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def demo_run(clone) -> tuple[Path, subprocess.CompletedProcess]:
    """The docs' first ``caption train`` command, run as printed with ``HF_HUB_OFFLINE=1`` and no network."""
    train = next(c for c in _demo_commands() if c.startswith("caption train"))
    done = _run(train, clone, _offline_env(clone, offline_flag=True))
    return clone / shlex.split(train)[shlex.split(train).index("-o") + 1], done


def test_docs_demo_block_trains_then_evaluates_the_shipped_sets():
    commands = _demo_commands()
    assert [c.split()[:2] for c in commands] == [["caption", "train"], ["caption", "eval"]]
    assert "gaptools/data/shapes/train_text.npz" in commands[0] and "--decoder" not in commands[0]
    assert "--decoder gpt2" in DOCS.read_text(encoding="utf-8")  # the real data's default is named


@pytest.mark.slow
def test_docs_first_train_command_trains_offline(demo_run):
    run, done = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Retrying" not in done.stdout + done.stderr and "huggingface.co" not in done.stdout + done.stderr
    assert "the shapes world's own tiny GPT-2" in done.stdout
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["train"]["decoder"] == shapes.NAME and config["train"]["epochs"] == 1
    assert (run / "final" / "model.pt").is_file() and (run / "tokenizer").is_dir()
    losses = [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert losses and all(np.isfinite(losses))
    # the world's tokenizer built in that process is the one built in this one
    saved = json.loads((run / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    here = json.loads(shapes.builtin_decoder(seed=0)[0].backend_tokenizer.to_str())["model"]
    assert saved["vocab"] == here["vocab"] and saved["merges"] == here["merges"]


@pytest.mark.slow
def test_docs_eval_command_gives_world_figures_without_a_world_folder(demo_run, clone):
    run, done = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    command = next(c for c in _demo_commands() if c.startswith("caption eval"))
    evaluated = _run(command, clone, _offline_env(clone, offline_flag=False))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "is not here" not in evaluated.stdout
    out = clone / shlex.split(command)[shlex.split(command).index("-o") + 1]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["configurations"][0]["metrics"]
    assert 0.0 <= metrics["world_exact_scene"] <= 100.0 and "world_colour_f1" in metrics


@pytest.mark.slow
def test_a_run_without_its_tokenizer_folder_is_one_line_naming_it(demo_run, clone, tmp_path):
    run, done = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    broken = clone / "runs" / "no_tokenizer"
    shutil.copytree(run, broken)
    shutil.rmtree(broken / "tokenizer")
    env = _offline_env(clone, offline_flag=False)  # no HF_HUB_OFFLINE: a hub lookup would try the dead endpoint
    failed = _run(f"caption eval runs/no_tokenizer {SHAPES_TEST} -o {tmp_path / 'eval'} --limit 5 --bootstrap 0",
                  clone, env)
    assert failed.returncode == 2, failed.stderr[-3000:]
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "runs/no_tokenizer/tokenizer" in lines[0], lines
    assert "missing" in lines[0] or "does not exist" in lines[0], lines
    assert "Traceback" not in failed.stderr and "Retrying" not in failed.stderr and not (tmp_path / "eval").exists()


def test_a_hub_id_offline_is_refused_at_once_naming_the_world_decoder(monkeypatch, tmp_path):
    from huggingface_hub import constants
    from transformers import AutoTokenizer

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError) as caught:
        hub.from_pretrained(AutoTokenizer, "gpt2", "tokenizer")
    assert "HF_HUB_OFFLINE is set" in caught.value.message and "--decoder shapes-world" in caught.value.hint
    assert "\n" not in str(caught.value)


def test_an_unreachable_hub_is_detected_before_any_download(monkeypatch, tmp_path):
    from huggingface_hub import constants
    from transformers import AutoTokenizer

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", DEAD_ENDPOINT)
    assert hub.hub_unreachable().startswith("127.0.0.1")

    def no_download(*args, **kwargs):
        if not kwargs.get("local_files_only"):
            pytest.fail("asked the hub although it cannot be reached")
        raise OSError("not cached")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", no_download)
    with pytest.raises(InputError, match="the hub cannot be reached"):
        hub.from_pretrained(AutoTokenizer, "gpt2", "tokenizer")


@pytest.mark.parametrize("name", ["runs/u/tokenizer", Path("runs/u/tokenizer")])
def test_a_missing_tokenizer_folder_is_a_missing_folder_never_a_hub_id(name, monkeypatch, tmp_path):
    from gaptools.caption.tokenizer import load_tokenizer

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(hub, "hub_unreachable", lambda: pytest.fail("a run's folder was looked up on the hub"))
    with pytest.raises(InputError, match=r"^tokenizer folder runs/u/tokenizer does not exist$"):
        load_tokenizer(name)


@pytest.mark.parametrize("name, folder", [("gpt2", False), ("openai-community/gpt2", False), ("runs/u/tokenizer", True),
                                          ("./gpt2", True), ("/abs/dec", True), (Path("tok"), True)])
def test_folders_are_told_from_hub_ids(name, folder):
    assert hub.is_folder(name) is folder


def test_the_world_decoder_is_built_deterministically_without_a_download():
    import torch

    state = torch.random.get_rng_state()
    tok_a, dec_a = shapes.builtin_decoder(seed=3)
    tok_b, dec_b = shapes.builtin_decoder(seed=3)
    _, dec_c = shapes.builtin_decoder(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's generator is untouched
    assert len(tok_a) == shapes.VOCAB_SIZE and tok_a.get_vocab() == tok_b.get_vocab()
    assert dec_a.config.n_layer == shapes.GPT2["n_layer"] and dec_a.config.vocab_size == len(tok_a)
    weights = [dict(d.named_parameters())["transformer.h.0.attn.c_attn.weight"] for d in (dec_a, dec_b, dec_c)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])
    caption = "a small red circle on the left"
    assert tok_a.decode(tok_a(caption)["input_ids"]) == caption


def test_the_default_decoder_follows_the_set():
    assert shapes.default_decoder(gaptools.load_set(SHAPES_TEST).meta) == shapes.NAME
    assert shapes.default_decoder({"dataset": "coco"}) == "gpt2" and shapes.default_decoder({}) == "gpt2"


def test_the_demo_sets_scenes_regenerate_and_agree_with_its_captions():
    eset = gaptools.load_set(SHAPES_TEST)
    scenes = world_scenes(eset)
    assert [s["filename"] for s in scenes] == [str(i) for i in eset.image_id]
    # the set's own reference captions describe the true scenes: everything they name is there
    refs = [{"image_id": str(eset.image_id[j]), "caption": str(c)} for c, j in zip(eset.caption, eset.text_image)]
    truth = score_captions(scenes, refs)["attributes"]
    assert truth["colour"]["precision"] == 1.0 and truth["shape"]["precision"] == 1.0
    shifted = [{**r, "caption": refs[(n + 5) % len(refs)]["caption"]} for n, r in enumerate(refs)]  # another image's
    assert score_captions(scenes, shifted)["attributes"]["colour"]["precision"] < 0.8


def test_a_set_whose_captions_are_not_the_worlds_gets_no_regenerated_scenes():
    eset = gaptools.load_set(SHAPES_TEST)
    edited = eset.caption.copy()
    edited[7] = "a blue square"
    changed = gaptools.EmbeddingSet(image=eset.image, text=eset.text, text_image=eset.text_image,
                                    image_id=eset.image_id, caption=edited, meta=eset.meta)
    assert world_scenes(changed) is None
    assert world_scenes(gaptools.EmbeddingSet(image=eset.image, text=eset.text, text_image=eset.text_image,
                                              image_id=eset.image_id, caption=eset.caption,
                                              meta={**eset.meta, "world_seed": 1})) is None


def test_a_world_run_records_its_decoder_and_resumes_with_the_default(tmp_path):
    from gaptools.caption.config import TrainConfig
    from gaptools.caption.train import train
    from gaptools.demo import SHAPES_TRAIN_TEXT

    full = gaptools.load_set(SHAPES_TRAIN_TEXT)
    rows = np.flatnonzero(full.text_image < 8)  # the first 8 images' 40 captions, meta kept: a shapes-world set
    small = gaptools.EmbeddingSet(image=full.image, text=full.text[rows], text_image=full.text_image[rows],
                                  image_id=full.image_id[:8], caption=full.caption[rows], meta=full.meta)
    gaptools.save_set(small, tmp_path / "small.npz")
    config = TrainConfig(data=str(tmp_path / "small.npz"), output=str(tmp_path / "run"), epochs=1, batch_size=20,
                         prefix_length=2, warmup=0, lr=1e-3, log_captions=0, device="cpu")
    said = []
    train(config, say=said.append)
    assert any("the shapes world's own tiny GPT-2" in line for line in said)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))["train"]
    assert recorded["decoder"] == shapes.NAME
    again = []
    train(config, resume=True, say=again.append)  # the default resolves to the recorded decoder
    assert any("already finished" in line for line in again)
