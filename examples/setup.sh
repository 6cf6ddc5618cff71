#!/usr/bin/env bash
# Create .venv (Python >= 3.11), install metakernel_dbg with its test extras, and register
# the `metakernel_dbg` kernelspec inside that environment. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/metakernel-dbg install --sys-prefix
