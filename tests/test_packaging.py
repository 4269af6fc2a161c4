"""Packaging: the wheel carries its configs, the console script works from any folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_tokenizers_is_hugging_face_from_repo_root() -> None:
    code = "import tokenizers, sys; print(tokenizers.__file__); assert hasattr(tokenizers, 'Tokenizer')"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "site-packages" in result.stdout


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel and install it (without dependencies) into a fresh target folder."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(folder), str(ROOT)],
        check=True,
    )
    (wheel,) = folder.glob("gea-*.whl")
    target = folder / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True
    )
    return target


def _run_installed(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import sys, gea; from gea.cli import main; print('GEA_FILE', gea.__file__); sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_non_editable_install_finds_configs_from_any_folder(installed_wheel: Path, tmp_path: Path) -> None:
    listing = _run_installed(installed_wheel, tmp_path, "envs", "list")
    assert listing.returncode == 0, listing.stderr
    assert f"GEA_FILE {installed_wheel}" in listing.stdout
    assert "cartpole" in listing.stdout  # registered from the packaged YAML config
    evaluation = _run_installed(
        installed_wheel,
        tmp_path,
        "eval",
        "suite.tasks=[{env: cartpole, episodes: 1}]",
        "agents=[random]",
        "out_dir=out",
    )
    assert evaluation.returncode == 0, evaluation.stderr
    assert (tmp_path / "out" / "results.json").exists()
    assert (installed_wheel / "gea" / "py.typed").exists()
