"""Batches of renders: the `metakernel-dbg render` command and what it shares with the farm."""
