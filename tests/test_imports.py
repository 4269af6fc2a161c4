"""Package hygiene: no shadowing of Hugging Face ``tokenizers``; a ground floor that imports no simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIMULATORS = ["metaworld", "mujoco", "minigrid", "procgen", "ale_py", "miniwob", "miniworld"]
RENDERING_VARIABLES = ["MUJOCO_GL", "PYOPENGL_PLATFORM", "SDL_VIDEODRIVER"]


def test_import_tokenizers_from_repo_root_is_hugging_face() -> None:
    code = "import tokenizers; print(tokenizers.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "site-packages" in out.stdout, out.stdout


@pytest.mark.parametrize(
    ("module", "also_banned"),
    [
        ("gea.spec", ["gymnasium", "numpy", "gea.envs", "gea.plugins"]),
        ("gea.envs", ["gymnasium", "gea.envs.registry"]),
        ("gea.tokenizers", ["gea.envs", "gea.rollouts", "gea.agents", "gea.train", "transformers"]),
    ],
)
def test_ground_floor_imports_no_simulator_and_sets_nothing(module: str, also_banned: list[str]) -> None:
    """``import <module>`` in a fresh process: no simulator, no adapter, no higher layer, no environment change."""
    banned = [*SIMULATORS, "gea.envs.adapters", *also_banned]
    code = (
        f"import json, os, sys; before = dict(os.environ); import {module}; "
        "print(json.dumps({'imported': [m for m in sys.argv[1:] if m in sys.modules], "
        "'changed': sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))}))"
    )
    env = {key: value for key, value in os.environ.items() if key not in RENDERING_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code, *banned], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["imported"] == []
    assert not set(found["changed"]) & set(RENDERING_VARIABLES), found["changed"]
