"""Where the benchmarks find the real data: ../shared/data beside the project (this machine), or
shared/data inside it (a copy of the project sent to a device machine)."""

from pathlib import Path

_PROJECT = Path(__file__).resolve().parents[1]
DATA = next((p for p in (_PROJECT.parent / "shared" / "data", _PROJECT / "shared" / "data") if p.is_dir()),
            _PROJECT.parent / "shared" / "data")
