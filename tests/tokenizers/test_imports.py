"""Package hygiene: no shadowing of Hugging Face ``tokenizers``, no simulators pulled in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_tokenizers_from_repo_root_is_hugging_face() -> None:
    code = "import tokenizers; print(tokenizers.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "site-packages" in out.stdout, out.stdout


def test_gea_tokenizers_imports_no_simulator_or_upper_layer() -> None:
    banned = ["metaworld", "mujoco", "minigrid", "gea.rollouts", "gea.agents", "gea.train", "transformers"]
    code = f"import sys, gea.tokenizers; print([m for m in {banned!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
