#!/usr/bin/env bash
# Create .venv with the newest CPython >= 3.11 on PATH (3.12+ traces the debugger with
# sys.monitoring, far cheaper than 3.11's sys.settrace), install metakernel_dbg with its
# test extras, and register the `metakernel_dbg` kernelspec inside that environment, and
# the `metakernel_dbg_js` one for JavaScript functions (tslab, installed with npm into
# .venv/share/metakernel_dbg/js). PYTHON=/path/to/python overrides the choice. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

newest_python() {
  local v cand
  for v in 3.14 3.13 3.12 3.11; do
    # a working interpreter on PATH ...
    if cand=$("python$v" -c 'import sys; print(sys.executable)' 2>/dev/null); then
      echo "$cand"; return
    fi
    # ... or one a pyenv shim names but does not select (the shim itself then fails)
    if command -v pyenv >/dev/null 2>&1; then
      for cand in "$(pyenv root)"/versions/"$v".*/bin/"python$v"; do
        if [ -x "$cand" ]; then echo "$cand"; return; fi
      done
    fi
  done
  echo python3
}

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "setup: $tool not found on PATH: JavaScript function kernels need Node.js 20+ with" \
      "npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done

PY=${PYTHON:-$(newest_python)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
echo "setup: $(.venv/bin/python --version) in .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/metakernel-dbg install --sys-prefix --js
