"""`python -m metakernel_dbg ...` is the `metakernel-dbg` command."""

from .cli import main

main()
