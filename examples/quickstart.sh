#!/usr/bin/env bash
# The main job: set up, render the shipped example (a good input, then the documented
# failing one with its merged cross-kernel trace, Python and JavaScript frames, then a batch
# with its failing inputs), then run the example notebook headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash examples/setup.sh
export WIKIFUNCTIONS_DATA="$PWD/examples/wikifunctions/data/entities.json"
FUNCS=examples/wikifunctions/functions

echo "== article_intro(\"Q42\", \"en\")   (Python -> JavaScript -> Python: lifespan and format_date are JS)"
.venv/bin/metakernel-dbg run "$FUNCS" article_intro '"Q42"' '"en"'
echo "== article_intro(\"Q90\", \"fr\")   (format_quantity runs in an xpython kernel)"
.venv/bin/metakernel-dbg run "$FUNCS" article_intro '"Q90"' '"fr"'
echo "== article_intro(\"Q999\", \"en\")  (documented failing input: it fails in a JS function; merged trace below)"
if .venv/bin/metakernel-dbg run "$FUNCS" article_intro '"Q999"' '"en"' --trace-json /tmp/mkdbg-trace.json; then
  echo "expected a failure" >&2; exit 1
fi
echo "(JSON trace written to /tmp/mkdbg-trace.json)"
echo "== a batch: examples/wikifunctions/batch.jsonl (12 renders, 2 failing), 4 at a time"
if .venv/bin/metakernel-dbg render "$FUNCS" --inputs examples/wikifunctions/batch.jsonl \
    --concurrency 4 --out /tmp/mkdbg-results.jsonl --traces /tmp/mkdbg-failed-traces.jsonl; then
  echo "expected two failed renders" >&2; exit 1
fi
echo "(results in /tmp/mkdbg-results.jsonl, the failed renders' traces in /tmp/mkdbg-failed-traces.jsonl)"
echo "== examples/notebook.ipynb on kernel metakernel_dbg"
.venv/bin/python - <<'PY'
import nbformat
from nbclient import NotebookClient

nb = nbformat.read("examples/notebook.ipynb", as_version=4)
NotebookClient(nb, kernel_name="metakernel_dbg", timeout=120).execute()
for cell in nb.cells:
    print(">>>", cell.source.splitlines()[0])
    for out in cell.get("outputs", []):
        print("   ", out.get("text") or out.get("data", {}).get("text/plain"))
PY
