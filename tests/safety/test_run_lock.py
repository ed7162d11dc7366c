"""Run lock: a folder being written by one process is refused to a second writer, which is told who holds it.

Before ``gaptools.outputs.run_lock`` two ``caption train`` runs into one folder both "succeeded" with
interleaved logs. ``flock`` conflicts between two open files even in one process, so a lock held by
the test itself stands in for another process; one test uses a real second process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from gaptools.cli.caption import app as caption_app
from gaptools.cli.main import app
from gaptools.errors import LockedError
from gaptools.outputs import LOCK_FILE, run_lock


def test_train_into_a_locked_folder_is_refused_naming_the_holder(sweep, caption_files, tmp_path):
    out = tmp_path / "run"
    with run_lock(out, command="caption train"):
        result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", out,
                              *sweep.train_args(caption_files["decoder"]))
        sweep.refused(result, "in use by", f"pid {os.getpid()}", socket.gethostname(), "caption train")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written beside the lock
    assert not out.exists()  # the lock made the folder and took it away again
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", out,
                          *sweep.train_args(caption_files["decoder"]))
    assert result.exit_code == 0, result.output
    assert not (out / LOCK_FILE).exists()


def test_resume_of_a_run_in_progress_is_refused(sweep, caption_files):
    with run_lock(caption_files["run"]):
        result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", caption_files["run"],
                              *sweep.train_args(caption_files["decoder"]), "--resume")
    sweep.refused(result, "in use by")


def test_eval_into_a_locked_folder_is_refused(sweep, caption_files, tmp_path):
    out = tmp_path / "ev"
    with run_lock(out):
        result = sweep.invoke(caption_app, "eval", caption_files["run"], caption_files["set"], "-o", out,
                              "--device", "cpu", "--max-length", 4)
    sweep.refused(result, "in use by")
    assert not out.exists()


def test_embed_with_a_locked_work_folder_is_refused(sweep, tmp_path):
    from PIL import Image

    from gaptools.embed.tiny import write_tiny_openclip

    config, weights = write_tiny_openclip(tmp_path / "model")
    (tmp_path / "img").mkdir()
    for i in range(2):
        Image.new("RGB", (16, 16), (90 * i, 40, 10)).save(tmp_path / "img" / f"{i}.png")
    (tmp_path / "pairs.csv").write_text("image,caption\n0.png,a red square\n1.png,a green square\n")
    out = tmp_path / "x.npz"
    args = ["embed", "csv", tmp_path / "pairs.csv", "--images", tmp_path / "img", "--model", "tiny",
            "--pretrained", weights, "--model-config", config, "--workers", "0", "--no-progress", "-o", out]
    with run_lock(tmp_path / "x.npz.parts", command="gaptools embed"):
        sweep.refused(sweep.invoke(app, *args), "in use by", "gaptools embed")
    assert not out.exists()
    result = sweep.invoke(app, *args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "model", "pairs.csv", "x.npz"]  # no work folder left


def test_reproduce_into_a_locked_folder_is_refused(sweep, tmp_path):
    with run_lock(tmp_path / "exp"):
        sweep.refused(sweep.invoke(app, "reproduce", "shapes", "--quick", "-o", tmp_path / "exp"), "in use by")


def test_a_second_process_is_refused_and_a_killed_holder_releases_the_lock(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from gaptools.outputs import run_lock
            with run_lock({str(folder)!r}, command="holder"):
                print("held", flush=True)
                time.sleep(120)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"in use by pid {holder.pid} on .* \\(holder, since"):
            with run_lock(folder):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
        holder.stdout.close()
    assert json.loads((folder / LOCK_FILE).read_text())["pid"] == holder.pid  # the killed holder's file is left ...
    with run_lock(folder) as held:  # ... but the kernel dropped its lock
        assert json.loads((held / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_FILE).exists()


def test_reproduce_output_that_is_a_file_is_refused(sweep, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("mine")
    sweep.refused(sweep.invoke(app, "reproduce", "shapes", "--quick", "-o", target), "exists and is not a folder")
    assert target.read_text() == "mine"
