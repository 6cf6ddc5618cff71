"""The engine shared by the kernel, the Session API and the CLI: registry, kernels, router.

It owns an asyncio loop on its own thread, so that the kernel's shell and control threads
and a plain script can all drive it through `submit()`. It keeps the function registry,
the child kernel instances of every function (one per concurrent call level and render),
the main kernel, and the router that moves calls between them.

Renders may run at once (`max_renders`); the rest wait in a bounded queue (`max_queued`),
beyond which a render is refused (`RenderQueueFullError`). An instance serves one render
at a time: it is *claimed* (`Instance.render_id`) by its first call in a render and given
back when that render ends, so a kernel busy in one render is never re-entered by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from ..callplane import values
from ..callplane.lease import LeaseTerms
from ..callplane.local import LocalTransport
from ..callplane.router import Limits, Render, Router
from ..callplane.tcp import TcpTransport
from ..callplane.wire import DEFAULT_MAX_MESSAGE, PAYLOAD
from ..errors import (
    CallArgumentError,
    KernelDiedError,
    KernelStartError,
    MetaKernelError,
    RenderQueueFullError,
    from_reply,
)
from ..launch.children import ChildKernel
from ..launch.forkserver import ForkServer, is_forkable, kernel_python
from ..launch.pool import KernelPool
from ..runtimes import registry
from ..runtimes.base import Bootstrap, ChildRuntime
from ..trace import Trace
from .functions import FunctionDef

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class EngineConfig:
    """Settings shared by every front (kernel traits, Session arguments, CLI flags)."""

    main_kernel: str | None = "python3"
    start_timeout: float = 60.0
    start_retries: int = 1
    transport: str = "auto"
    max_depth: int = 32
    max_calls: int = 0
    call_timeout: float | None = None
    render_timeout: float | None = None
    max_message: int = DEFAULT_MAX_MESSAGE  # bytes of one call-plane message
    start_concurrency: int = max(1, os.cpu_count() or 1)
    #: warm (started + bootstrapped) function kernels kept per kernelspec; 0: no pool
    pool_size: int = 0
    #: kernelspecs warmed in the background once the engine is up (needs pool_size > 0)
    prewarm: tuple[str, ...] = ()
    #: "shared": function kernels live as long as the engine and keep their state between
    #: renders; "per-render": each top-level render gets fresh kernels, discarded at its end
    isolation: str = "shared"
    #: start ipykernel children by forking them from a fork server (see forkserver.py)
    fork: bool = True
    #: renders that may run at once (each holds its own instances); the rest wait
    max_renders: int = 4 * max(1, os.cpu_count() or 1)
    #: renders that may wait for a slot; one more is refused with RenderQueueFullError
    max_queued: int = 1000
    #: instances started per function when it is defined (at least one); a batch sets its
    #: concurrency, so that its renders find their kernels up instead of starting them
    instances: int = 1
    #: children on other hosts (callplane/tcp.py): the address they dial (default: the one
    #: facing each child's host), the TCP port range of the call plane (default: any), and
    #: their leases: a renewal every `lease_interval` s, ended by `lease_timeout` s of silence
    callplane_ip: str = ""
    callplane_ports: tuple[int, int] | None = None
    lease_interval: float = 1.0
    lease_timeout: float = 10.0


class Frontend(Protocol):
    """Where the engine sends what a user should see."""

    def publish(self, msg_type: str, content: dict[str, Any]) -> None: ...


class RenderWatcher(Protocol):
    """Told when a top-level render begins and ends (on the engine loop). `origin` is what
    the front that started it passed (the kernel: the cell's request), or None."""

    async def render_started(self, origin: Any) -> None: ...
    async def render_ended(self, origin: Any) -> None: ...


class Instance:
    """One child kernel hosting one function (or the main kernel)."""

    def __init__(
        self, child: ChildKernel, runtime: ChildRuntime, function: str | None, definition: Any
    ) -> None:
        self.child = child
        #: the language runtime inside the child (see runtimes/base.py)
        self.runtime = runtime
        self.instance_id = child.instance_id
        self.function = function
        self.definition = definition
        self.serving = False
        self.busy = False
        #: key of the render that holds this instance (None: free); set on the router thread
        self.render_id: str | None = None

    def kernel_info(self) -> dict[str, Any]:
        return self.child.kernel_info()


class Engine:
    """Registry + kernels + router, on a private event loop."""

    def __init__(self, frontend: Frontend, config: EngineConfig | None = None) -> None:
        self.frontend = frontend
        self.config = config or EngineConfig()
        self.workdir = tempfile.mkdtemp(prefix="mkdbg-")  # 0700: keys, sockets, conn files
        self.cell_dir = os.path.join(tempfile.gettempdir(), f"ipykernel_mkdbg_{os.getpid()}")
        self.functions: dict[str, FunctionDef] = {}
        self.instances: dict[str, list[Instance]] = {}
        self.main: Instance | None = None
        self.router = Router(
            self.workdir,
            self,
            Limits(
                self.config.max_depth,
                self.config.max_calls,
                max_message=self.config.max_message,
                call_timeout=self.config.call_timeout,
                render_timeout=self.config.render_timeout,
            ),
            transport=TcpTransport(
                LocalTransport(self.workdir),
                LeaseTerms(self.config.lease_interval, self.config.lease_timeout),
                self._lease_lost,
                ip=self.config.callplane_ip,
                ports=self.config.callplane_ports,
            ),
        )
        self.router.reuse_instances = self.config.isolation != "per-render"
        self._ids = itertools.count(1)
        self._start_gate: asyncio.Semaphore | None = None
        self._render_slots: asyncio.Semaphore | None = None
        self._queued = 0
        self._live: set[str] = set()  # keys of the renders begun and not yet ended
        self._spec_argv: dict[str, list[str]] = {}
        self._fork_servers: dict[str, asyncio.Task[ForkServer]] = {}  # by Python executable
        #: warm function kernels (config.pool_size > 0)
        self.pool: KernelPool[Instance] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="mkdbg-engine", daemon=True
        )
        #: coroutines run for every new instance before it runs user code (debugger)
        self.instance_hooks: list[Callable[[Instance], Coroutine[Any, Any, None]]] = []
        #: coroutines run once an instance defined a function (debugger: remote sources)
        self.define_hooks: list[Callable[[Instance, FunctionDef], Coroutine[Any, Any, None]]] = []
        #: called (on the engine loop) when a child dies, with the message describing how
        self.death_hooks: list[Callable[[Instance, str], None]] = []
        self.render_watchers: list[RenderWatcher] = []
        #: asked first on an interrupt; one returning True has handled it (no signal sent)
        self.interrupt_hooks: list[Callable[[], bool]] = []

    # -- thread plumbing ----------------------------------------------------------------
    def start(self) -> Future:
        """Start the loop and router threads; the main kernel starts in the background.

        Returns a future that is done when the main kernel is ready (see `main_kernel()`).
        """
        self._thread.start()
        self.router.start()
        self._ready = self.submit(self._start())
        return self._ready

    async def _start(self) -> None:
        self._start_gate = asyncio.Semaphore(self.config.start_concurrency)
        self._render_slots = asyncio.Semaphore(max(1, self.config.max_renders))
        self._monitor = asyncio.create_task(self._watch_children())
        if self.config.pool_size > 0:
            self.pool = KernelPool(
                lambda spec: self._new_instance("pool", None, spec, "function"),
                self._discard,
                size=self.config.pool_size,
                concurrency=self.config.start_concurrency,
                retries=0,  # _start_child already retries a failed start
                alive=lambda inst: inst.child.is_alive(),
            )
        if self.config.main_kernel:
            await self._start_main()
        if self.pool is not None:
            for spec in self.config.prewarm:
                self._in_background(self._prewarm(spec))

    async def _prewarm(self, spec: str) -> None:
        with contextlib.suppress(Exception):  # a failure is raised again to the next acquire
            await self.pool.prewarm(spec)  # type: ignore[union-attr]

    def _in_background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def main_kernel(self) -> Instance:
        """The main kernel, once started (raises the start error if it failed)."""
        await asyncio.wrap_future(self._ready)
        if self.main is None:
            raise KernelStartError("this engine has no main kernel")
        return self.main

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future:
        """Run a coroutine on the engine loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Await a coroutine on the engine loop from another event loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def close(self) -> None:
        """End every child kernel and both threads; safe to call twice."""
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.submit(self._shutdown_all()).result(timeout=30)
            self.router.stop()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.cell_dir, ignore_errors=True)

    def all_instances(self) -> list[Instance]:
        found = [i for group in self.instances.values() for i in group]
        return found + ([self.main] if self.main else [])

    async def _watch_children(self) -> None:
        """Notice children that die (signal, exit): fail what they serve, forget them."""
        while True:
            await asyncio.sleep(0.1)
            for inst in self.all_instances():
                if inst.child.km is not None and not await inst.child.is_alive():
                    await self._on_death(inst)

    async def _on_death(self, inst: Instance) -> None:
        how = await inst.child.poll_exit()
        status = await inst.child.exit_info()
        message = f"{inst.child.label} {how}"
        self._forget(inst)
        inst.child.fail_pending(KernelDiedError(message))
        for hook in self.death_hooks:
            hook(inst, message)
        failure = {
            "kind": "died",
            "message": message,
            "exit": {
                "signal": status.get("signal"),
                "exit_code": status.get("exit_code"),
                "last_output": inst.child.last_output(),
            },
        }
        self.router.post(lambda: self.router.instance_died(inst.instance_id, failure))
        self.frontend.publish("stream", {"name": "stderr", "text": f"[metakernel_dbg] {message}\n"})
        await inst.child.shutdown(now=True)

    def _lease_lost(self, instance_id: str, silent_for: float) -> None:
        """A remote child stopped renewing its lease (lease thread): it counts as dead."""

        def mark() -> None:
            inst = self.router.instances.get(instance_id)
            if inst is not None:
                inst.child.mark_lost(f"its lease was not renewed for {silent_for:.1f} s")

        self.router.post(mark)

    def _forget(self, inst: Instance) -> None:
        if inst is self.main:
            self.main = None
            self._ready = self.submit(self._start_main())
        elif inst.function is not None and inst in self.instances.get(inst.function, []):
            self.instances[inst.function].remove(inst)

    async def _start_main(self) -> None:
        self.main = await self.start_instance(None, self.config.main_kernel or "python3")

    def replace_instance(self, instance: Instance) -> None:
        """Router hook: a kernel is stuck (timed out); kill it, the next call gets a new one."""
        self.router.remove_instance(instance.instance_id)  # its late messages are dropped

        def kill() -> None:
            self._forget(instance)
            self.loop.create_task(instance.child.shutdown(now=True))

        self.loop.call_soon_threadsafe(kill)

    async def _shutdown_all(self) -> None:
        self._monitor.cancel()
        if self.pool is not None:
            await self.pool.close(grace=5)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        everything = self.all_instances()
        await asyncio.gather(*(i.child.shutdown(now=True) for i in everything))
        self.instances.clear()
        self.main = None
        servers, self._fork_servers = list(self._fork_servers.values()), {}
        for task in servers:
            task.cancel()  # a server still starting is killed by its own start()
            with contextlib.suppress(BaseException):
                await (await task).stop()

    # -- kernels ------------------------------------------------------------------------
    async def start_instance(self, fdef: FunctionDef | None, spec: str) -> Instance:
        """A new child kernel, bootstrapped, hooked and (for a function) defined.

        With a pool, a function gets a warm kernel (already started and bootstrapped).
        """
        if fdef is not None and self.pool is not None:
            try:
                instance = await self.pool.acquire(spec)
            except KernelStartError as exc:
                raise KernelStartError(f"{fdef.name}: {exc}") from None
            instance.function = instance.child.function = fdef.name
        else:
            name = fdef.name if fdef else None
            role = "function" if fdef else "main"
            instance = await self._new_instance(name or "main", name, spec, role)
        try:
            for hook in self.instance_hooks:
                await hook(instance)
            if fdef is not None:
                await self.define_in(instance, fdef)
        except BaseException:
            await asyncio.shield(self._discard(instance))
            raise
        return instance

    async def _new_instance(
        self, label: str, function: str | None, spec: str, role: str
    ) -> Instance:
        """Start and bootstrap a child kernel (role "main" or "function"; none defined)."""
        instance_id = f"{label}-{next(self._ids)}"
        child = await self._start_child(instance_id, spec, function)
        runtime = registry.for_kernelspec(spec)
        instance = Instance(child, runtime, function, None)
        child.on_stray_iopub = self._relay_stray_output
        hello = self.router.add_instance(instance)
        peer = child.remote.ip if child.remote else None
        transport = self.router.transport
        endpoint = self.router.call_soon(lambda: transport.endpoint(instance_id, peer))
        settings = Bootstrap(
            await asyncio.wrap_future(endpoint),
            instance_id,
            self.router.key_for(instance_id),
            role,
            self.cell_dir,
            self.config.max_message,
        )
        try:
            await self.run_in(instance, runtime.bootstrap_code(settings))
            await asyncio.wait_for(asyncio.wrap_future(hello), self.config.start_timeout)
        except BaseException:
            await asyncio.shield(self._discard(instance))
            raise
        return instance

    async def _start_child(self, instance_id: str, spec: str, function: str | None) -> ChildKernel:
        """Start a kernel, retrying a start that hangs or crashes (e.g. the port race)."""
        assert self._start_gate is not None
        attempts = self.config.start_retries + 1
        server = await self._fork_server(spec)
        for attempt in itertools.count(1):
            child = ChildKernel(instance_id, spec, function, self.workdir)
            try:
                async with self._start_gate:
                    await child.start(
                        self._child_env(),
                        self.config.start_timeout,
                        self.config.transport,
                        provisioner=server.provisioner() if server else None,
                    )
                return child
            except KernelStartError as exc:
                if attempt >= attempts or "no such kernelspec" in str(exc):
                    raise KernelStartError(f"{function or 'main'}: {exc}") from None
        raise AssertionError("unreachable")

    async def _fork_server(self, spec: str) -> ForkServer | None:
        """The fork server for this kernelspec's Python (started once), or None: the spec is
        not a plain ipykernel, forking is off, or the server failed (see fork-*.log)."""
        if not self.config.fork:
            return None
        if spec not in self._spec_argv:
            try:
                self._spec_argv[spec] = KernelSpecManager().get_kernel_spec(spec).argv
            except NoSuchKernel:
                return None
        argv = self._spec_argv[spec]
        if not is_forkable(argv):
            return None
        python = kernel_python(argv)
        if python not in self._fork_servers:
            path = os.path.join(self.workdir, f"fork-{len(self._fork_servers)}")
            start = ForkServer.start(python, path, self._child_env(), self.config.start_timeout)
            self._fork_servers[python] = self.loop.create_task(start)
        try:
            return await asyncio.shield(self._fork_servers[python])
        except Exception:  # noqa: BLE001 - children then start the ordinary way
            return None

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        env["MKDBG_META_PID"] = str(os.getpid())  # childsite: die with the meta-kernel
        childsite = os.path.join(_PACKAGE_DIR, "launch", "childsite")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (childsite, env.get("PYTHONPATH")) if p)
        return env

    async def run_in(self, instance: Instance, code: str) -> None:
        """Run code silently in a child (MetaKernelError with the error if it fails)."""
        stdout: list[str] = []

        def collect(msg: dict[str, Any]) -> None:
            if msg["header"]["msg_type"] == "stream" and msg["content"].get("name") == "stdout":
                stdout.append(msg["content"].get("text", ""))

        on_iopub = collect if instance.runtime.outcome_on_stdout else None
        content = await instance.child.execute(code, on_iopub=on_iopub)
        problem = instance.runtime.failure(content, "".join(stdout))
        if problem is not None:
            raise MetaKernelError(f"{instance.child.label}: {problem}")

    async def define_in(self, instance: Instance, fdef: FunctionDef) -> None:
        if instance.serving:  # the definition runs once its serve loop has stopped
            self.restart_serving(instance)
        code = instance.runtime.define_code(fdef.name, fdef.source, fdef.filename)
        await self.run_in(instance, code)  # sent now: before any later serve request
        instance.definition = fdef
        for hook in self.define_hooks:
            await hook(instance, fdef)

    async def define(self, fdef: FunctionDef) -> Instance:
        """Register (or replace) a function and make sure `config.instances` live instances
        (at least one) run it."""
        old = self.functions.get(fdef.name)
        self.functions[fdef.name] = fdef
        group = self.instances.setdefault(fdef.name, [])
        if old is not None and old.kernel != fdef.kernel:
            stale, group[:] = list(group), []
            await asyncio.gather(*(self._discard(i) for i in stale))
        try:
            await asyncio.gather(*(self.define_in(i, fdef) for i in group))
            missing = max(1, self.config.instances) - len(group)
            started = await asyncio.gather(
                *(self.start_instance(fdef, fdef.kernel) for _ in range(missing)),
                return_exceptions=True,
            )
            failed = [e for e in started if isinstance(e, BaseException)]
            if failed:
                ok = [i for i in started if not isinstance(i, BaseException)]
                await asyncio.gather(*(self._discard(i) for i in ok))
                raise failed[0]
            group.extend(started)
        except Exception:
            if old is None:
                self.functions.pop(fdef.name, None)
            else:
                self.functions[fdef.name] = old
            raise
        return group[0]

    async def define_many(self, fdefs: list[FunctionDef]) -> list[Instance]:
        """Define several functions, starting their kernels in parallel."""
        return list(await asyncio.gather(*(self.define(f) for f in fdefs)))

    async def _discard(self, instance: Instance) -> None:
        self.router.post(lambda: self.router.remove_instance(instance.instance_id))
        await instance.child.shutdown(now=True)

    def _relay_stray_output(self, msg: dict[str, Any]) -> None:
        if msg["header"]["msg_type"] in ("stream", "display_data", "error"):
            self.frontend.publish(msg["header"]["msg_type"], msg["content"])

    # -- hooks called by the router (router thread) ---------------------------------------
    def acquire(
        self, function: str, exclude: set[str], render: str, done: Callable[[Any], None]
    ) -> None:
        """Give the router an idle, up-to-date instance that no other render holds, claimed
        for `render`; start one if none is free."""
        fdef = self.functions.get(function)
        for inst in self.instances.get(function, []):
            if inst.busy or inst.instance_id in exclude or inst.definition is not fdef:
                continue
            if inst.render_id not in (None, render):
                continue  # another render holds it (or, "per-render", held it: discarded)
            inst.render_id = render
            done(inst)
            return

        async def start() -> None:
            try:
                inst: Any = await self.start_instance(fdef, fdef.kernel)  # type: ignore[union-attr]
                inst.render_id, inst.busy = render, True  # no other render may take it
                self.instances.setdefault(function, []).append(inst)
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                inst = exc
            self.router.post(lambda: done(inst))

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(start()))

    def start_serving(self, instance: Instance) -> None:
        def send() -> None:
            msg_id = instance.child.send(
                "execute_request",
                {
                    "code": instance.runtime.serve_code,
                    "silent": True,
                    "store_history": False,
                    "allow_stdin": False,
                    "user_expressions": {},
                },
            )
            instance.child.expect_reply(msg_id).add_done_callback(_consume)

        self.loop.call_soon_threadsafe(send)

    def restart_serving(self, instance: Instance) -> None:
        """End the instance's serve loop; its next call starts a new one (which then runs
        under a debugger started meanwhile)."""
        self.router.post(lambda: self.router.stop_serving(instance))

    def publish_output(self, name: str, text: str) -> None:
        self.frontend.publish("stream", {"name": name, "text": text})

    # -- renders ------------------------------------------------------------------------
    async def begin_render(
        self,
        root_function: str,
        kernel: dict[str, Any],
        origin: Any = None,
        caller: Instance | None = None,
    ) -> str:
        """Start a render once a slot is free; its key. `caller`: the kernel whose calls
        belong to it (the main kernel for a cell), None for calls the engine makes."""
        await self._take_render_slot()
        render = None
        try:
            render = await asyncio.wrap_future(
                self.router.call_soon(
                    lambda: self.router.begin_render(
                        {"function": root_function, "kernel": kernel},
                        caller.instance_id if caller else "",
                    )
                )
            )
            self._live.add(render.key)
            for watcher in self.render_watchers:
                await watcher.render_started(origin)
        except BaseException:
            if render is not None:
                self._live.discard(render.key)
                self.router.post(lambda: self.router.end_render(render.key))
            self._render_slots.release()  # type: ignore[union-attr]
            raise
        return render.key

    async def _take_render_slot(self) -> None:
        slots = self._render_slots
        assert slots is not None
        if not slots.locked():
            await slots.acquire()
            return
        if self._queued >= self.config.max_queued:
            raise RenderQueueFullError(
                f"{self.config.max_renders} renders are running and {self._queued} are "
                f"waiting (max_queued={self.config.max_queued}): render refused"
            )
        self._queued += 1
        try:
            await slots.acquire()
        finally:
            self._queued -= 1

    async def end_render(self, key: str, origin: Any = None) -> Render | None:
        """Close render `key` (None if it has ended already): its kernels serve other renders
        from now on (or, "per-render", are discarded)."""
        if key not in self._live:
            return None
        self._live.discard(key)
        try:
            for watcher in self.render_watchers:
                await watcher.render_ended(origin)
        finally:
            render = await asyncio.wrap_future(
                self.router.call_soon(lambda: self.router.end_render(key))
            )
            self._render_slots.release()  # type: ignore[union-attr]  # its kernels are free
        if render is not None:
            await self._finish(render)
        return render

    def finish_render(self, render: Render) -> None:
        """Router hook: an implicit render ended (its call returned)."""
        self.loop.call_soon_threadsafe(lambda: self._in_background(self._finish(render)))

    async def _finish(self, render: Render) -> None:
        """After a render's end, "per-render": discard the kernels it used."""
        if self.config.isolation != "per-render":
            return  # the router gave them back already
        for inst in (i for part in render.family() for i in part.claimed.values()):
            if inst in self.instances.get(inst.function, []):
                self._forget(inst)
                self._in_background(self._discard(inst))

    async def call(self, render: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """A top-level call made by the engine itself (Session.call, the CLI) in `render`."""
        payload = values.encode_call(args, kwargs, f"call({name!r})")
        if len(payload) > self.config.max_message:
            raise CallArgumentError(
                f"call({name!r}): arguments of {len(payload)} bytes are over the "
                f"call plane's limit of {self.config.max_message} bytes"
            )
        fut: Future = Future()
        self.router.post(
            lambda: self.router.start_call(render, "", None, name, payload, None, future=fut)
        )
        reply = await asyncio.wrap_future(fut)
        if reply["k"] == "return":
            return values.decode(reply[PAYLOAD]) if PAYLOAD in reply else None
        raise from_reply(reply)

    async def failure_trace(self, render: Render, exc: BaseException) -> Trace:
        """Close a failed engine-level render into its trace (root error links the child)."""
        root = render.root
        root.update(
            status="error",
            error={
                "type": getattr(exc, "remote_type", type(exc).__name__),
                "message": getattr(exc, "remote_message", str(exc)),
                "frames": [],
                "propagated_from": getattr(exc, "span_id", None) or None,
            },
        )
        trace = render.trace()
        self.router.last_failure = trace
        return trace

    async def interrupt(self) -> None:
        """Interrupt every kernel on the live stack (the main kernel included), unless an
        interrupt hook handles it."""
        if any(hook() for hook in self.interrupt_hooks):
            return
        levels = await asyncio.wrap_future(self.router.call_soon(self.router.stack_levels))
        targets = [lvl.callee for lvl in levels if lvl.callee is not None]
        if self.main is not None:
            targets.append(self.main)
        await asyncio.gather(*(t.child.interrupt() for t in targets), return_exceptions=True)

    def describe_functions(self) -> list[dict[str, Any]]:
        """Rows for `%functions`: name, kernelspec, source, live instances."""
        return [
            {
                "name": name,
                "kernel": fdef.kernel,
                "source": fdef.filename,
                "instances": [i.child.label for i in self.instances.get(name, [])],
            }
            for name, fdef in sorted(self.functions.items())
        ]


def _consume(fut: asyncio.Future[Any]) -> None:
    """A serve loop's reply may fail (kernel gone); that is reported elsewhere."""
    if not fut.cancelled():
        fut.exception()
