"""The differential test of the debugger: programs run on a stock ipykernel (the reference)
and on the meta-kernel with the same debug requests; recordings compared."""
