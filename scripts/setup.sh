#!/usr/bin/env bash
# Sets up everything on a fresh Debian 12 / Python 3.11 machine without GPU:
# system packages (Mesa for headless MuJoCo, Chromium for web UI tasks), a virtual environment (.venv, or $VENV)
# with torch 2.13.0 first, then gea with every simulator extra and the dev tools, and a software Vulkan driver for
# ManiSkill (scripts/install_lavapipe.sh, into $VENV/lavapipe). Safe to run again.
#
# A failed install stops the script with pip's own messages (only pip's "WARNING: Location" lines are hidden).
#
# Which torch build:
#   TORCH_INDEX_URL set    torch==2.13.0 from that index, e.g. https://download.pytorch.org/whl/cu126 for CUDA 12.6
#   TORCH_INDEX_URL unset  the CPU build: from pip's configured sources if they offer one (a local wheel folder or a
#                          mirror, as on this project's machines), else from https://download.pytorch.org/whl/cpu,
#                          so that plain PyPI never pulls the multi-gigabyte CUDA build onto a CPU machine
# A torch 2.13.0 already in the environment is kept. The last line says which build is installed.
set -euo pipefail

TORCH_VERSION=2.13.0
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
SYSTEM_PACKAGES=(libegl1 libgl1 libgles2 libosmesa6 libglu1-mesa chromium chromium-driver xvfb libqt5gui5)
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
VENV_PYTHON="${VENV_PYTHON:-$VENV/bin/python}"

install_system_packages() {
  local missing=() package sudo_cmd=""
  for package in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing system packages: ${missing[*]}"
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pip_install() {
  # `pip install "$@"` into the venv; its messages pass through (minus "WARNING: Location" noise), a failure exits
  local status=0
  "$VENV_PYTHON" -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location" || true; } \
    || status=$?
  if [ "$status" -ne 0 ]; then
    echo "setup: error: \`pip install $*\` failed (exit $status); pip's messages above say why" >&2
    exit "$status"
  fi
}

installed_torch() {
  # the torch version in the venv, or nothing
  "$VENV_PYTHON" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true
}

offered_torch() {
  # the torch version pip's configured sources would install (e.g. 2.13.0+cpu), without installing it; or nothing
  "$VENV_PYTHON" -m pip install --dry-run --no-deps --ignore-installed --quiet --report - "torch==$TORCH_VERSION" \
    2>/dev/null | "$PYTHON" -c 'import json, sys
try:
    print(json.load(sys.stdin)["install"][0]["metadata"]["version"])
except Exception:
    pass' || true
}

install_torch() {
  local installed offered
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    echo "setup: installing torch==$TORCH_VERSION from TORCH_INDEX_URL=$TORCH_INDEX_URL"
    pip_install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
    return
  fi
  installed="$(installed_torch)"
  if [[ "$installed" == "$TORCH_VERSION" || "$installed" == "$TORCH_VERSION+"* ]]; then
    echo "setup: torch $installed is already installed"
    return
  fi
  offered="$(offered_torch)"
  if [[ "$offered" == *+cpu ]]; then
    echo "setup: installing torch $offered (the CPU build, from pip's configured sources)"
    pip_install "torch==$TORCH_VERSION"
  else
    echo "setup: pip's configured sources offer torch ${offered:-(none)}, not the CPU build; installing it from" \
      "$TORCH_CPU_INDEX (set TORCH_INDEX_URL to use another index, e.g. a CUDA one)"
    pip_install "torch==$TORCH_VERSION" --index-url "$TORCH_CPU_INDEX"
  fi
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  install_system_packages
  [ -x "$VENV_PYTHON" ] || "$PYTHON" -m venv "$VENV"
  install_torch
  echo "setup: installing gea[all,dev,bench] into $VENV"
  pip_install -e ".[all,dev,bench]"   # `all` includes `vision` (pretrained EfficientNet-Lite0); `bench`: EnvPool
  # procgen2's gym3 pins imageio-ffmpeg<0.4, whose ffmpeg cannot write mp4 here; >=0.8 works with gym3.
  pip_install --no-deps "imageio-ffmpeg>=0.8"
  # ManiSkill's renderer (SAPIEN) needs Vulkan: Mesa 25's software driver, unpacked into the venv; the system's OpenGL
  # Mesa, which MuJoCo, MiniWorld and Chromium render with, stays as it is.
  bash scripts/install_lavapipe.sh "$VENV/lavapipe"
  "$VENV_PYTHON" -c "import gea.envs, torch
build = f'CUDA {torch.version.cuda}' if torch.version.cuda else 'CPU'
print(f'setup: ok (torch {torch.__version__}, {build} build)')"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
