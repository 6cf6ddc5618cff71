#!/usr/bin/env bash
# The test command: set up the environment (Node.js for the JavaScript function kernels,
# and Debian's Chromium for the JupyterLab browser test), then run the whole suite.
# pytest's exit code is ours (5 = no test ran).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! { command -v node && command -v npm; } >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
bash examples/setup.sh
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check metakernel_dbg tests examples
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
