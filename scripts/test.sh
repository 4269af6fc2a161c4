#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the fast test suite and the end-to-end smoke runs.
# Slow tests (learning results, full benchmarks) run with: .venv/bin/python -m pytest -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# One BLAS/torch thread per process: the suite runs many processes on 2 cores, and oversubscription
# makes small torch ops up to 50x slower.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv/bin/ruff check gea tests benchmarks
status=0
.venv/bin/python -m pytest -m "not slow" -q --timeout=600 "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
fi
exit "$status"
