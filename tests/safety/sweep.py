"""Helpers of the hostile sweep (tests/safety): invoking a command and the refusal contract."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

WORDS = ["cat", "dog", "bird", "fish", "frog", "horse"]
CAPTIONS = np.array([f"a {w} on the {p}" for w in WORDS for p in ("grass", "road")])


def invoke(app, *args, **kwargs):
    """Run a Typer app with string arguments (CliRunner, one process)."""
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def refused(result, *needles) -> None:
    """The refusal contract: exit code 2, no traceback, no "Unexpected error", every needle in the output."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Unexpected error" not in result.output, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    for needle in needles:
        assert needle in text, (needle, result.output)


def train_args(decoder) -> list[str]:
    """`caption train` options for a run of a few steps on the CPU."""
    return ["--decoder", str(decoder), "--epochs", "1", "--batch-size", "4", "--prefix-length", "2",
            "--warmup", "0", "--lr", "1e-3", "--device", "cpu"]
