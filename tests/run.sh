#!/usr/bin/env bash
# The test command: set up the environment (Node.js for the JavaScript function kernels,
# and, as root, Debian's Chromium for the JupyterLab browser test and Debian's
# openssh-server files for the emulated hosts of tests/test_remote.py: downloaded and
# unpacked, never installed, no service started), then run the whole suite. pytest's exit
# code is ours (5 = no test ran).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! { command -v node && command -v npm; } >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
bash examples/setup.sh
if [ "$(id -u)" = 0 ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v ip >/dev/null || missing+=(iproute2)
  if [ ${#missing[@]} -gt 0 ] || [ ! -x tests/hosts/.cache/openssh/root/usr/sbin/sshd ]; then
    apt-get update -qq
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  bash tests/hosts/hosts.sh fetch
fi
.venv/bin/ruff check metakernel_dbg tests examples
exec .venv/bin/python -m pytest -p no:cacheprovider -q --durations=20 "$@"
