#!/usr/bin/env bash
# Create .venv in the project root and install gaptools with every extra and the test tools.
# torch/torchvision are pinned to the pair this project is tested with (open_clip needs both).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip_install() { .venv/bin/python -m pip install --disable-pip-version-check -q "$@"; }
case "$(uname -m)" in
  aarch64|arm64) pip_install torch==2.9.1 torchvision==0.24.1 ;;
  *)             pip_install torch==2.14.1 torchvision==0.29.1 ;;
esac
pip_install -e ".[all,test]"
