"""Code that runs inside child kernels, one folder per language, behind `ChildRuntime`."""
