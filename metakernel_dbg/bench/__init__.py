"""`metakernel-dbg bench`: measurements against baselines taken in the same run (run.py),
one module per thing measured."""
