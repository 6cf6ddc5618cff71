"""JavaScript functions (issue 14) on real kernels: tslab JS kernels with the preloaded
runtime next to ipykernels, over the real call plane. Calls both ways (routed, then
linked), values, errors both ways, recursion across languages, the depth limit,
timeouts, console output order, a killed JS kernel, the warm pool, function directories,
and, through a real meta-kernel, `%%function --kernel metakernel_dbg_js`, `%load_functions`
and interrupts.

Most tests share one Session (kernels start once per module); the ones that break things
start their own. Every Session and kernel is ended by the test that started it.
"""

from __future__ import annotations

import io
import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import (
    MetaKernelHandle,
    collect_iopub,
    errors_of,
    result_text,
    send_execute,
    stream_text,
    strip_ansi,
    traceback_text,
    wait_reply,
)
from test_session import open_session

from metakernel_dbg import RenderError, Session
from metakernel_dbg.errors import CallArgumentError, CallDepthError, KernelDiedError, RemoteError

JS = "metakernel_dbg_js"

FUNCTIONS = {
    # JS -> Python, with output on both sides and on both streams
    "jsq": """\
        function jsq(x) {
          console.log('jsq got', x);
          const plus = call('pyadd', x, 1);
          console.error('jsq err', plus);
          return x * x + plus;
        }""",
    "pyadd": "def pyadd(a, b):\n    print('pyadd', a, b)\n    return a + b\n",
    # Python -> JS
    "pyouter": "def pyouter(n):\n    return [call('jsq', i) for i in range(n)]\n",
    "jecho": "function jecho(x) {\n  return x;\n}",
    "jbad": """\
        function jbad(kind) {
          const local = {kind, n: [1, 2]};
          if (kind === 'type') null.x;
          if (kind === 'range') new Array(-1);
          if (kind === 'python') return call('praise', kind);
          if (kind === 'set') return new Set([1]);
          if (kind === 'bigint') return call('pyadd', 1n, 2);
          if (kind === 'primitive') throw 'just a string';
          class Oops extends RangeError {}
          if (kind === 'custom') throw new Oops('custom ' + kind);
          throw new Error('plain ' + kind);
        }""",
    "praise": "def praise(k):\n    d = {'k': k}\n    raise KeyError(k)\n",
    # a JS caller that catches what a Python callee raises
    "jcatch": """\
        function jcatch(key) {
          try {
            return call('praise', key);
          } catch (e) {
            const remote = e instanceof __mkdbg.errors.RemoteError;
            return [e.name, e.message, e instanceof Error, remote, e.remoteType, e.frames.length];
          }
        }""",
    # the README's (and issue 14's) example; keyword arguments for Python with callKw
    "format_quantity": """\
        function format_quantity(amount, lang) {
          const sep = call("separator", lang);          // a Python function, called synchronously
          return amount.toLocaleString("en").replaceAll(",", sep);
        }""",
    "separator": (
        "def separator(lang, wide=False):\n    return {'fr': '\\u202f', 'de': '.'}.get(lang, ',')\n"
    ),
    "jkw": "function jkw(lang) {\n  return callKw('separator', [lang], {wide: true});\n}",
    # recursion across languages: pfact(n) -> jfact(n-1) -> pfact(n-2) ...
    "pfact": "def pfact(n):\n    return 1 if n <= 1 else n * call('jfact', n - 1)\n",
    "jfact": "function jfact(n) {\n  return n <= 1 ? 1 : n * call('pfact', n - 1);\n}",
}


def js_source(name: str) -> str:
    return textwrap.dedent(FUNCTIONS[name])


class Output(io.StringIO):
    """The Session's stdout and stderr in one stream, tagged, in arrival order."""

    def __init__(self, tag: str, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.tag, self.log = tag, log

    def write(self, text: str) -> int:
        self.log.append((self.tag, text))
        return len(text)


@pytest.fixture(scope="module")
def output() -> list[tuple[str, str]]:
    return []


@pytest.fixture(scope="module")
def session(output: list[tuple[str, str]]) -> Iterator[Session]:
    with open_session(stdout=Output("out", output), stderr=Output("err", output)) as s:
        for name, source in FUNCTIONS.items():
            kernel = JS if source.lstrip().startswith("function") else "python3"
            s.define(name, js_source(name), kernel=kernel)
        yield s


def test_calls_both_ways_routed_then_linked(session: Session) -> None:
    router = session._core.engine.router
    assert session.call("jsq", 3) == 13
    before = router.linked_calls
    assert session.call("pyouter", 4) == [1, 3, 7, 13]
    assert router.linked_calls >= before + 3, "after the first routed call, kernels link"


def test_console_output_in_program_order(session: Session, output: list) -> None:
    output.clear()
    assert session.call("jsq", 5) == 31
    text = [(tag, t) for tag, t in output if t.strip()]
    assert text == [("out", "jsq got 5\n"), ("out", "pyadd 5 1\n"), ("err", "jsq err 6\n")]


@pytest.mark.parametrize(
    "value",
    [
        1,
        2.5,
        "é\u2028✓",
        None,
        True,
        [1, [2, {"a": None}]],
        {"a": {"b": [1.5, "x"]}},
        {1: "int key", 2.5: "float key", None: "none key"},
        {(1, 2): "tuple key"},
        {"$tag": "a $ key"},
        float("inf"),
        float("-inf"),
    ],
)
def test_values_come_back_equal(session: Session, value) -> None:
    got = session.call("jecho", value)
    assert got == value and type(got) is type(value)


def test_values_js_has_no_form_for(session: Session) -> None:
    assert session.call("jecho", (1, 2)) == [1, 2], "a tuple arrives as an Array"
    nan = session.call("jecho", float("nan"))
    assert nan != nan
    # as for a Python callee, a value that cannot travel is the caller's CallArgumentError
    with pytest.raises(CallArgumentError, match="jbad\\(\\) returned a bad value: result: Set"):
        session.call("jbad", "set")
    with pytest.raises(CallArgumentError, match='call\\("pyadd"\\): args\\[0\\]: bigint cannot'):
        session.call("jbad", "bigint")


def _failure(session: Session, *args, **kwargs) -> RemoteError:
    with pytest.raises(RenderError) as info:
        session.call(*args, **kwargs)
    cause = info.value.cause
    assert isinstance(cause, RemoteError)
    return cause


def test_js_errors_reach_python_with_python_classes_and_js_frames(session: Session) -> None:
    err = _failure(session, "jbad", "type")
    assert isinstance(err, TypeError) and type(err).__name__ == "TypeError"
    assert err.remote_type == "TypeError" and "reading 'x'" in err.remote_message
    frame = err.frames[-1]
    assert (frame["function"], frame["line"], frame["source"]) == (
        "jbad",
        3,
        "if (kind === 'type') null.x;",
    )
    assert frame["locals"]["kind"] == "'type'"
    assert frame["locals"]["local"] == "{ kind: 'type', n: [ 1, 2 ] }"

    err = _failure(session, "jbad", "range")
    assert isinstance(err, ValueError) and type(err).__name__ == "RangeError"
    err = _failure(session, "jbad", "custom")
    assert isinstance(err, ValueError) and type(err).__name__ == "Oops"
    assert err.remote_message == "custom custom"
    err = _failure(session, "jbad", "plain")
    assert type(err).__name__ == "Error" and not isinstance(err, (TypeError, ValueError))
    err = _failure(session, "jbad", "primitive")
    assert (err.remote_type, err.remote_message) == ("string", "just a string")


def test_python_errors_reach_js_as_error_subclasses(session: Session) -> None:
    assert session.call("jcatch", "nope") == ["KeyError", "'nope'", True, True, "KeyError", 1]
    err = _failure(session, "jbad", "python")  # not caught in JS: a Python caller gets it
    assert isinstance(err, KeyError) and err.args == ("python",)
    trace = session.last_trace
    assert [s.function for s in trace.chain()][-2:] == ["jbad", "praise"]
    text = trace.to_text()
    assert f"jbad [{JS} pid" in text and "praise [python3 pid" in text
    assert "if (kind === 'python') return call('praise', kind);" in text


def test_the_readme_example_and_keyword_arguments(session: Session) -> None:
    assert session.call("format_quantity", 2145906, "fr") == "2\u202f145\u202f906"
    assert session.call("jkw", "de") == "."
    # Python keyword arguments bind to the JS function's parameters by name
    assert session.call("jecho", x=[1]) == [1]
    assert session.call("format_quantity", 5000, lang="de") == "5.000"
    unknown, twice = _failure(session, "jecho", y=1), _failure(session, "jecho", 1, x=2)
    assert isinstance(unknown, TypeError) and isinstance(twice, TypeError)
    assert str(unknown) == "jecho() got an unexpected keyword argument 'y'"
    assert str(twice) == "jecho() got multiple values for argument 'x'"


def test_an_idle_js_kernel_answers_inspections(session: Session) -> None:
    """The router's inspections reach a JS kernel between renders (no JS runs then)."""
    engine = session._core.engine
    router, instance = engine.router, engine.instances["jecho"][0].instance_id

    def inspect(request: dict):
        return router.call_soon(lambda: router.inspect(instance, request)).result(10).result(10)

    assert inspect({"op": "stack"}) == []
    assert inspect({"op": "step", "action": "clear"}) == {"cleared": False}  # no debugger
    with pytest.raises(LookupError, match="inspected through the debugger"):
        inspect({"op": "variables", "frame": 0})


def test_recursion_across_languages(session: Session) -> None:
    assert session.call("pfact", 7) == 5040
    assert session.call("jfact", 6) == 720


def test_depth_limit_across_languages() -> None:
    with open_session(max_depth=5) as s:
        s.define("pfact", FUNCTIONS["pfact"])
        s.define("jfact", js_source("jfact"), kernel=JS)
        assert s.call("jfact", 4) == 24
        with pytest.raises(RenderError) as info:
            s.call("jfact", 50)
    err = info.value.cause
    assert isinstance(err, CallDepthError) or err.remote_type == "CallDepthError"
    assert "call depth limit 5" in str(info.value)


def test_a_js_function_past_its_timeout_is_stopped_and_replaced() -> None:
    spin = (
        "function spin(ms) {\n  const end = Date.now() + ms;\n"
        "  while (Date.now() < end) {}\n  return ms;\n}"
    )
    with open_session(call_timeout=5, pool_size=1, prewarm=(JS,)) as s:
        s.define("spin", spin, kernel=JS)
        engine = s._core.engine
        first = engine.instances["spin"][0].child.pid
        with pytest.raises(RenderError) as info:
            s.call("spin", 60_000)
        assert "did not return within 5 s" in str(info.value)
        wait_warm(engine)  # the replacement starts within the next call's timeout
        assert s.call("spin", 10) == 10
        assert engine.instances["spin"][0].child.pid != first
        assert not psutil.pid_exists(first) or psutil.Process(first).status() == "zombie"


def test_a_killed_js_kernel_is_reported_and_replaced() -> None:
    suicide = (
        "function suicide(x) {\n  if (x) process.kill(process.pid, 'SIGKILL');\n"
        "  return 'alive';\n}"
    )
    with open_session() as s:
        s.define("suicide", suicide, kernel=JS)
        s.define("via", "def via(x):\n    return call('suicide', x)\n")
        pid = s._core.engine.instances["suicide"][0].child.pid
        with pytest.raises(RenderError) as info:
            s.call("via", True)
        assert isinstance(info.value.cause, KernelDiedError)
        assert f"suicide [{JS} pid {pid}] killed by signal 9 (SIGKILL)" in str(info.value)
        assert s.call("via", False) == "alive"
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_js_kernels_come_from_the_warm_pool() -> None:
    with open_session(pool_size=1, prewarm=(JS,)) as s:
        engine = s._core.engine
        wait_warm(engine)
        s.define("jecho", js_source("jecho"), kernel=JS)
        assert engine.pool.stats["hits"] >= 1, engine.pool.stats
        assert s.call("jecho", [1]) == [1]


def wait_warm(engine, timeout: float = 60) -> None:
    """Until the engine's pool holds a warm JS kernel."""

    async def warm() -> int:
        return engine.pool.warm_count(JS)

    deadline = time.monotonic() + timeout
    while engine.submit(warm()).result() < 1:
        assert time.monotonic() < deadline, "the pool never warmed a JS kernel"
        time.sleep(0.2)


def test_function_directories_pick_the_language_by_extension(tmp_path: Path) -> None:
    (tmp_path / "jtwice.js").write_text("function jtwice(x) {\n  return 2 * call('pinc', x);\n}\n")
    (tmp_path / "pinc.py").write_text("def pinc(x):\n    return x + 1\n")
    (tmp_path / "notes.txt").write_text("not a function")
    with open_session() as s:
        assert sorted(s.load_directory(str(tmp_path))) == ["jtwice", "pinc"]
        assert s.call("jtwice", 4) == 10
        kernels = {f.name: f.kernel for f in s._core.engine.functions.values()}
        assert kernels == {"jtwice": JS, "pinc": "python3"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("function f(x) {\n  return x +;\n}", r"SyntaxError in definition of f: .* \(line 2\)"),
        ("function g(x) {\n  return x;\n}", r"must define 'function f\(\.\.\.\)'; it defines g"),
    ],
)
def test_bad_definitions_are_refused_before_a_kernel_sees_them(source: str, message: str) -> None:
    with open_session() as s:
        with pytest.raises(ValueError, match=message):
            s.define("f", source, kernel=JS)
        assert s._core.engine.instances == {}


def test_an_uninstalled_js_kernelspec_still_checks_javascript(monkeypatch) -> None:
    """Without the kernelspec, a JS cell is still checked as JS (its start then fails)."""
    from metakernel_dbg.runtimes import registry

    monkeypatch.setattr(registry, "kernelspec_language", lambda name: None)
    assert registry.for_kernelspec(JS).language == "javascript"
    assert registry.for_kernelspec("no-such-spec").language == "python"


# --------------------------------------------------------------------------- the meta-kernel


def test_function_cells_files_and_the_merged_error_in_a_cell(
    fresh_meta_kernel: MetaKernelHandle, tmp_path: Path
) -> None:
    mk = fresh_meta_kernel
    (tmp_path / "pdouble.py").write_text("def pdouble(x):\n    return 2 * x\n")
    (tmp_path / "jfile.js").write_text("function jfile(x) {\n  return call('pdouble', x) + 1;\n}\n")
    reply, msgs = mk.run(f"%load_functions {tmp_path}")
    assert reply["status"] == "ok", reply
    assert re.search(rf"^jfile defined in kernel {JS} \(pid \d+\)$", stream_text(msgs), re.M)
    cell = (
        f"%%function jcell --kernel {JS}\n"
        "function jcell(x) {\n"
        "  console.log('jcell', x);\n"
        "  if (x < 0) throw new RangeError('negative ' + x);\n"
        "  return call('jfile', x);\n"
        "}"
    )
    reply, msgs = mk.run(cell)
    assert reply["status"] == "ok", reply
    reply, msgs = mk.run('print("before")\nr = call("jcell", 4)\nprint("after")\nr')
    assert reply["status"] == "ok", reply
    assert stream_text(msgs) == "before\njcell 4\nafter\n"
    assert result_text(msgs) == "9"

    catch = (
        'try:\n    call("jcell", -1)\nexcept ValueError as e:\n    print(type(e).__name__, e.args)'
    )
    reply, msgs = mk.run(catch)
    assert stream_text(msgs).endswith("RangeError ('negative -1',)\n")
    reply, msgs = mk.run('call("jcell", -2)')
    assert reply["status"] == "error" and reply["ename"] == "RangeError"
    text = strip_ansi(traceback_text(errors_of(msgs)[0]))
    assert f"jcell [{JS} pid" in text and "throw new RangeError('negative ' + x);" in text
    assert "RangeError: negative -2" in text


def test_interrupt_reaches_a_js_caller_waiting_on_python(
    fresh_meta_kernel: MetaKernelHandle,
) -> None:
    mk = fresh_meta_kernel
    relay = (
        f"%%function jrelay --kernel {JS}\nfunction jrelay(x) {{\n  return call('psleep', x);\n}}"
    )
    sleep = (
        "%%function psleep\ndef psleep(x):\n    import time\n    if x == 'sleep':\n"
        "        print('sleeping', flush=True)\n        time.sleep(60)\n    return x"
    )
    assert mk.run(relay)[0]["status"] == "ok" and mk.run(sleep)[0]["status"] == "ok"
    msg_id = send_execute(mk.kc, 'call("jrelay", "sleep")')
    collect_iopub(mk.kc, msg_id, timeout=60, until=lambda m: "sleeping" in str(m))
    mk.km.interrupt_kernel()
    reply = wait_reply(mk.kc, msg_id, timeout=30)["content"]
    collect_iopub(mk.kc, msg_id, timeout=10)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    reply, msgs = mk.run('call("jrelay", "again")', timeout=60)
    assert reply["status"] == "ok", reply
    assert result_text(msgs) == "'again'", "every level serves on"


def test_interrupt_a_running_js_function(fresh_meta_kernel: MetaKernelHandle) -> None:
    mk = fresh_meta_kernel
    spin = (
        f"%%function jspin --kernel {JS}\n"
        "function jspin(x) {\n"
        "  if (x === 'spin') { console.log('spinning'); for (;;) {} }\n"
        "  return call('pok', x);\n"
        "}"
    )
    assert mk.run(spin)[0]["status"] == "ok"
    assert mk.run("%%function pok\ndef pok(x):\n    return x")[0]["status"] == "ok"
    msg_id = send_execute(mk.kc, 'call("jspin", "spin")')
    collect_iopub(mk.kc, msg_id, timeout=60, until=lambda m: "spinning" in str(m))
    mk.km.interrupt_kernel()
    reply = wait_reply(mk.kc, msg_id, timeout=30)["content"]
    msgs = collect_iopub(mk.kc, msg_id, timeout=10)
    assert reply["status"] == "error"
    assert "KeyboardInterrupt" in strip_ansi(traceback_text(errors_of(msgs)[0]))
    reply, msgs = mk.run('call("jspin", "again")', timeout=60)
    assert reply["status"] == "ok", reply
    assert result_text(msgs) == "'again'", "the JS kernel serves on"


def _pid_of(session: Session, name: str) -> int:
    return session._core.engine.instances[name][0].child.pid


def test_js_kernels_die_with_the_session() -> None:
    with open_session() as s:
        s.define("jecho", js_source("jecho"), kernel=JS)
        pid = _pid_of(s, "jecho")
        proc = psutil.Process(pid)
    gone, alive = psutil.wait_procs([proc], timeout=30)
    for leak in alive:
        leak.kill()
    assert not alive, f"JS kernel {pid} outlived its session"
