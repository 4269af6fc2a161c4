#!/usr/bin/env bash
# Checks that LeRobot's own LeRobotDataset reads what `gea dataset export-lerobot` writes (images and lossless
# video), value for value. LeRobot cannot share gea's virtualenv (it needs torch<2.11 and numpy>=2), so this
# builds a separate one (about 5 GB with LeRobot's CUDA torch; first run 5-15 minutes) and points the marked
# tests at it:
#
#   bash scripts/lerobot_check.sh
#
# LEROBOT_VENV picks the folder (default ~/.cache/gea/lerobot-venv); LEROBOT_VERSION the release (default 0.4.4,
# the one checked). The tests themselves run in gea's .venv (`pytest -m lerobot`); without GEA_LEROBOT_PYTHON
# they are skipped with a reason naming this script, so the fast suite stays free of LeRobot.
set -euo pipefail
cd "$(dirname "$0")/.."
LEROBOT_VENV="${LEROBOT_VENV:-$HOME/.cache/gea/lerobot-venv}"
LEROBOT_VERSION="${LEROBOT_VERSION:-0.4.4}"
if [ ! -x "$LEROBOT_VENV/bin/python" ]; then
  echo "lerobot_check: creating $LEROBOT_VENV with lerobot==$LEROBOT_VERSION"
  python3 -m venv "$LEROBOT_VENV"
fi
"$LEROBOT_VENV/bin/python" -m pip install -q --disable-pip-version-check "lerobot==$LEROBOT_VERSION"
GEA_LEROBOT_PYTHON="$LEROBOT_VENV/bin/python" .venv/bin/python -m pytest -q -m lerobot tests/rollouts/test_dataset_lerobot.py
