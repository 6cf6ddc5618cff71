"""Protocol conformance of `metakernel_dbg` with `jupyter_kernel_test`.

The samples are those of jupyter_kernel_test's reference test for ipykernel (test_ipykernel.py):
plain cells run in the meta-kernel's main python3 kernel, so it must behave like one.
Every test `jkt.KernelTests` offers has a sample here, so none is skipped.
"""

from __future__ import annotations

import jupyter_kernel_test as jkt

KERNEL = "metakernel_dbg"


class MetaKernelConformanceTests(jkt.KernelTests):
    kernel_name = KERNEL
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('test', file=sys.stderr)"

    completion_samples = [{"text": "zi", "matches": {"zip"}}]

    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2", "def f():"]
    invalid_code_samples = ["import = 7q"]

    code_page_something = "?print"

    code_generate_error = "raise"

    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(1, 4)]", "result": "[1, 4, 9]"},
    ]

    code_display_data = [
        {
            "code": "from IPython.display import HTML, display; display(HTML('<b>test</b>'))",
            "mime": "text/html",
        },
        {
            "code": "from IPython.display import Math, display; display(Math('\\frac{1}{2}'))",
            "mime": "text/latex",
        },
    ]

    code_history_pattern = "1?2*"
    # not "range": ipykernel answers a range of the current session with session number 0,
    # not the number `tail` reported, so jkt's range check fails for python3 itself too.
    supported_history_operations = ("tail", "search")

    code_inspect_sample = "print"

    code_clear_output = "from IPython.display import clear_output; clear_output()"


class MetaKernelIopubWelcomeTests(jkt.IopubWelcomeTests):
    """The meta-kernel is an ipykernel `Kernel`: its XPUB IOPub socket welcomes subscribers."""

    kernel_name = KERNEL
    support_iopub_welcome = True
