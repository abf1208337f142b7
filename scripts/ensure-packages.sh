#!/usr/bin/env bash
# Installs Debian packages a test needs when what it needs is missing, and says how to get them
# when it cannot (not root and no sudo, or no apt-get). Nothing to do when all is there.
#
#   scripts/ensure-packages.sh "<what needs them>" <command-or-/path>... -- <package>...
#
# `make browser` and `make qemu` call it (Chromium for the console's browser test; qemu-user
# and an aarch64 glibc to run the arm64 zips under the runtime emulator on x86_64).
set -euo pipefail

usage="usage: $0 \"<what needs them>\" <command-or-/path>... -- <package>..."
[[ $# -ge 4 ]] || { echo "$usage" >&2; exit 2; }
purpose=$1
shift
needs=()
while [[ $# -gt 0 && $1 != "--" ]]; do
  needs+=("$1")
  shift
done
[[ ${1:-} == "--" && $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
shift
packages=("$@")

present() {
  local need
  for need in "${needs[@]}"; do
    if [[ $need == */* ]]; then
      [[ -e $need ]] || return 1
    else
      command -v "$need" >/dev/null || return 1
    fi
  done
}

present && exit 0
if ! command -v apt-get >/dev/null; then
  echo "error: $purpose needs ${needs[*]}; install them with your package manager (Debian: apt-get install ${packages[*]})" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "error: $purpose needs ${needs[*]}: run \`sudo apt-get install ${packages[*]}\` as an administrator" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "==> installing ${packages[*]} (apt-get) for $purpose"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
present || { echo "error: installed ${packages[*]}, but ${needs[*]} is still missing" >&2; exit 1; }
