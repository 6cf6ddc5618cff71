"""Entry point of the kernelspec: `python -m metakernel_dbg.kernelapp -f {connection_file}`."""

from ipykernel.kernelapp import IPKernelApp

from .kernel import MetaKernel


def main() -> None:
    IPKernelApp.launch_instance(kernel_class=MetaKernel)


if __name__ == "__main__":
    main()
