#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the main job: random vs scripted experts on the quick suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL="${MUJOCO_GL:-egl}"
.venv/bin/gea eval suite=quick "$@"
