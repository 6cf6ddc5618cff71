"""The Jupyter face: the meta-kernel, its magics, stream relaying and the kernelspec."""
