#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the console's browser test (`make test`).
# Installs Debian's `chromium` and `chromium-driver` when either is missing; says how to get
# them when it cannot (not root, or no apt-get). Nothing to do when both are on PATH.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "error: the console test needs Chromium and chromedriver; install them with your package manager (Debian: apt-get install chromium chromium-driver)" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "error: the console test needs Chromium and chromedriver: run \`sudo apt-get install chromium chromium-driver\` as an administrator" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "==> installing chromium and chromium-driver (apt-get) for the console's browser test"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
