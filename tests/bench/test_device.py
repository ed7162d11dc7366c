"""bench/device.py: the GPU check script runs end to end on the CPU at toy size, and guards each step."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def device(load_bench):
    return load_bench("device")


def test_a_step_over_its_budget_is_stopped_and_reported(device, tmp_path):
    args = argparse.Namespace(out=tmp_path, device="cpu", quick=True)
    result = device._child("versions", args, budget=0.2)  # importing torch alone takes longer
    assert result["status"] == "timed out" and "budget" in result["error"]
    line, = device._rows("versions", result)
    assert line.startswith("versions") and "timed out" in line


def test_a_failed_step_is_one_table_line_with_its_last_log_line(device):
    line, = device._rows("decode", {"status": "failed", "seconds": 3.2, "error": "exit code 1",
                                    "log": "Traceback ...\nRuntimeError: boom"})
    assert "failed after 3 s" in line and "exit code 1" in line and "RuntimeError: boom" in line


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "gpt2_bpe" / "vocab.json").exists(), reason="needs ../shared/data")
def test_quick_cpu_run_of_every_step(tmp_path):
    out = tmp_path / "device"
    proc = subprocess.run([sys.executable, "bench/device.py", "--device", "cpu", "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "device.json").read_text())
    assert list(report["steps"]) == ["versions", "train", "decode", "embed", "reproduce", "torchrun"]
    assert all(step["status"] == "ok" for step in report["steps"].values())
    steps = report["steps"]
    assert steps["versions"]["torch"] and steps["versions"]["device_name"]
    assert {"40", "80"} <= set(steps["train"]["results"])  # batch 40 and the largest of the tries
    assert all(r["captions_per_s"] > 0 for r in steps["train"]["results"].values() if isinstance(r, dict))
    decode = steps["decode"]["results"]
    assert set(decode) == {"greedy batch 2", "beam 5 batch 2", "greedy batch 4", "beam 5 batch 4"}
    assert all(r["same_tokens_as_hf"] == r["captions"] for k, r in decode.items() if k.startswith("greedy"))
    assert 0 < steps["embed"]["model_share"] <= 1
    assert steps["torchrun"]["backend"] == "gloo"
    table = (out / "device.txt").read_text()
    assert table.splitlines()[1].startswith("versions") and "6 of 6 steps ok" in proc.stdout
