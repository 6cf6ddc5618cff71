"""Entry point of the kernelspec: `python -m metakernel_dbg.kernelapp -f {connection_file}`."""

import os

# ipykernel imports debugpy (pydevd) at start-up; without this, pydevd prints a "frozen
# modules" warning on the meta-kernel's stderr, i.e. into `jupyter console`'s terminal.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

from ipykernel.kernelapp import IPKernelApp  # noqa: E402

from .kernel.kernel import MetaKernel  # noqa: E402


def main() -> None:
    IPKernelApp.launch_instance(kernel_class=MetaKernel)


if __name__ == "__main__":
    main()
