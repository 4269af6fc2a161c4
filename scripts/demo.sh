#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the main job: `gea quickstart` (collect expert data,
# fit the action tokenizer, SFT the tiny GEA policy on all domains, a short PPO stage, evaluate, report).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# One BLAS/torch thread per process: on a small CPU, oversubscribed torch threads are much slower.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv/bin/gea quickstart "$@"
