#!/usr/bin/env bash
# Installs Mesa 25's software Vulkan driver (lavapipe) for ManiSkill/SAPIEN into a private folder, by default
# .venv/lavapipe (gea finds it there, or wherever GEA_LAVAPIPE_DIR points).
#
# Debian 12's own lavapipe (Mesa 22) is too old for SAPIEN, and installing bookworm-backports' Mesa system-wide
# would upgrade the OpenGL/EGL Mesa libraries that MuJoCo, MiniWorld and Chromium render with. So this script adds
# the bookworm-backports source (at apt's default low priority: nothing is upgraded from it), downloads the one
# package mesa-vulkan-drivers from there, unpacks only libvulkan_lvp.so into the folder and writes a driver manifest
# (lvp_icd.json, last, so a half-finished install is never taken for a working one). The libraries lavapipe links
# against come from Debian 12 itself; no Mesa package of the system changes.
#
# Usage: bash scripts/install_lavapipe.sh [FOLDER]        (FOLDER defaults to .venv/lavapipe)
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:-.venv/lavapipe}"
if [ -f "$target/lvp_icd.json" ] && [ -f "$target/libvulkan_lvp.so" ]; then
  echo "install_lavapipe: already installed in $target"
  exit 0
fi
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
if [ "$codename" != "bookworm" ]; then
  echo "install_lavapipe: this script is for Debian 12 (bookworm); this is '${codename:-unknown}'." >&2
  echo "  Install your distribution's Vulkan driver instead (Mesa >= 23, e.g. apt-get install mesa-vulkan-drivers)." >&2
  exit 1
fi

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
if ! grep -Rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "install_lavapipe: adding the bookworm-backports apt source (default priority: it upgrades nothing by itself)"
  printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: bookworm-backports" "Components: main" \
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
    $sudo_cmd tee /etc/apt/sources.list.d/gea-bookworm-backports.sources >/dev/null
fi
$sudo_cmd apt-get update -qq

# What libvulkan_lvp.so links against, all from bookworm itself (none of them is a Mesa package).
RUNTIME_LIBRARIES=(libllvm15 libdrm2 libelf1 libexpat1 libwayland-client0 libx11-xcb1 libxcb1 libxcb-dri3-0
  libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxshmfence1 libzstd1 zlib1g)
missing=()
for package in "${RUNTIME_LIBRARIES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then  # only what is missing: installed packages keep their versions
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt downloads as its own unprivileged user
[ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1 && chown _apt "$work"
(cd "$work" && apt-get download -qq mesa-vulkan-drivers/bookworm-backports)
dpkg-deb -x "$work"/mesa-vulkan-drivers_*.deb "$work/root"
library="$(find "$work/root" -name libvulkan_lvp.so -print -quit)"
manifest="$(find "$work/root" -name 'lvp_icd*.json' -print -quit)"
[ -n "$library" ] && [ -n "$manifest" ] || { echo "install_lavapipe: the package holds no lavapipe" >&2; exit 1; }
if ldd "$library" | grep -q "not found"; then
  echo "install_lavapipe: libvulkan_lvp.so misses libraries:" >&2
  ldd "$library" | grep "not found" >&2
  exit 1
fi

mkdir -p "$target"
target="$(cd "$target" && pwd -P)"
cp "$library" "$target/libvulkan_lvp.so.tmp" && mv "$target/libvulkan_lvp.so.tmp" "$target/libvulkan_lvp.so"
api_version="$(sed -n 's/.*"api_version": *"\([0-9.]*\)".*/\1/p' "$manifest")"
printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "%s"}}\n' \
  "$target/libvulkan_lvp.so" "${api_version:-1.3.0}" >"$target/lvp_icd.json.tmp"
mv "$target/lvp_icd.json.tmp" "$target/lvp_icd.json"
version="$(dpkg-deb -f "$work"/mesa-vulkan-drivers_*.deb Version)"
echo "install_lavapipe: Mesa $version lavapipe installed in $target (manifest lvp_icd.json)"
