"""No plumbing in user namespaces: what a user sees of the globals (dir(), %who, completion,
the debugger's Variables panel) is what a stock ipykernel shows, plus the user's own names;
`call` stays a builtin."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest
from conftest import MetaKernelHandle, result_text, shell_request
from jupyter_client.manager import KernelManager

#: the user's view of the globals, without the history's numbered names (_1, _i2, ...)
NAMES = (
    "sorted(k for k in dir() if not k.startswith('__') and "
    "not __import__('re').fullmatch(r'_i?\\d+', k))"
)
FUNCTION = (
    "%%function names\ndef names():\n"
    "    return sorted(k for k in globals() if not k.startswith('__'))\n"
)


@pytest.fixture(scope="module")
def stock() -> Iterator[object]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def stock_value(kc: object, code: str) -> object:
    shown: list[str] = []

    def hook(msg: dict) -> None:
        if msg["header"]["msg_type"] == "execute_result":
            shown.append(msg["content"]["data"]["text/plain"])

    kc.execute_interactive(code, timeout=60, output_hook=hook)  # type: ignore[attr-defined]
    return ast.literal_eval(shown[-1])


def meta_value(kernel: MetaKernelHandle, code: str) -> object:
    reply, msgs = kernel.run(code)
    assert reply["status"] == "ok", reply
    return ast.literal_eval(result_text(msgs) or "None")


def test_main_kernel_globals_are_a_stock_kernel_s(
    meta_kernel: MetaKernelHandle, stock: object
) -> None:
    assert meta_value(meta_kernel, "x = 1\nx") == stock_value(stock, "x = 1\nx") == 1
    assert meta_value(meta_kernel, NAMES) == stock_value(stock, NAMES)
    assert meta_value(meta_kernel, "callable(call) and 'call' in dir(__builtins__)") is True


def test_function_kernel_globals_hold_only_the_function(meta_kernel: MetaKernelHandle) -> None:
    assert meta_kernel.run(FUNCTION)[0]["status"] == "ok"
    names = meta_value(meta_kernel, 'call("names")')
    assert isinstance(names, list) and "names" in names
    assert not [n for n in names if "mkdbg" in n or "metakernel" in n], names


def test_who_completion_and_variables_panel_show_no_runtime(
    meta_kernel: MetaKernelHandle,
) -> None:
    reply, msgs = meta_kernel.run("%who")
    assert "mkdbg" not in str([m["content"] for m in msgs])
    matches = shell_request(meta_kernel.kc, "complete", "_mk", 3)["content"]["matches"]
    assert not matches
    content = {"type": "request", "seq": 1, "command": "inspectVariables", "arguments": {}}
    control = meta_kernel.kc.control_channel
    msg = meta_kernel.kc.session.msg("debug_request", content)
    control.send(msg)
    while True:
        got = control.get_msg(timeout=30)
        if got["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            break
    names = [v["name"] for v in got["content"]["body"]["variables"]]
    assert names and not [n for n in names if "mkdbg" in n], names
