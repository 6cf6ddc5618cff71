"""The TCP transport: children on other hosts, over TCP secured with CurveZMQ.

The second implementation of the transport seam (`transport.py`). Children on the
meta-kernel's host keep the local transport (ipc, AF_UNIX direct lines); a child on
another host gets a `tcp` endpoint:

- **Router.** The router's one ROUTER socket keeps its ipc endpoint and, once a child on
  another host appears, also listens on TCP on the address that faces that host (or
  `ip`), as a CurveZMQ server with a key pair made for this meta-kernel. Libzmq takes a
  socket's security options when an endpoint is bound, so the ipc endpoint stays as it was.
- **Keys.** Each remote child gets a client key pair of its own. Its endpoint (with the
  pair, the router's public key and the child's HMAC key beside it) travels only in the
  bootstrap execute_request, over the kernel's Curve-encrypted shell channel; a ZAP handler
  admits no other client key. The HMAC keys and counters of `wire.py` stay: Curve
  encrypts and admits, HMAC says which child speaks.
- **Lease.** A remote child keeps a lease (`lease.py`) on a second port of the same face.
- **Direct lines.** A remote kernel listens for callers on its own host on a Unix socket
  (as the local transport does) and for callers on other hosts on a Curve TCP socket (a
  ROUTER). A TCP line is a ZMQ PAIR: the caller asks the callee's ROUTER for a line, the
  callee binds a PAIR for it and answers with its port, and the caller connects to it.
  Only holders of the callee's public key (given in links by the router) get through the
  handshake; messages on lines are signed with the link keys as on every line.

Kernels on the meta-kernel's host dial remote kernels over TCP but accept lines on their
Unix sockets only: that host opens no ports but the router's and the lease's, so calls from
remote kernels into them stay routed.

The child side is imported inside Python child kernels: standard library and pyzmq only.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from typing import Any

import zmq

from . import lease
from .local import LocalTransport, accept_unix, dial_unix, unix_listener
from .transport import ChildSide, Endpoint, Line, Transport

KIND = "tcp"
ZAP_DOMAIN = b"mkdbg-callplane"
DIAL_TIMEOUT = 10.0  # seconds a callee's listener may take to hand out a line
_LINE = b"line"


class TcpTransport(Transport):
    """The meta side: local children through `local`, remote ones over Curve TCP.

    `ip`: the address remote children dial (default: the one facing each child's host);
    `ports`: the port range TCP listeners use, also the children's (default: any);
    `on_lost(instance_id, silent_for)`: a child stopped renewing its lease (any thread).
    """

    kind = KIND

    def __init__(
        self,
        local: LocalTransport,
        terms: lease.LeaseTerms,
        on_lost: Callable[[str, float], None],
        ip: str = "",
        ports: tuple[int, int] | None = None,
    ) -> None:
        self.local = local
        self.terms = terms
        self.on_lost = on_lost
        self.ip = ip
        self.ports = ports
        self.public, self.secret = zmq.curve_keypair()
        self.clients: dict[bytes, str] = {}  # client public key -> instance id (ZAP)
        #: our address -> the router's endpoint there, and the lease holder there
        self.faces: dict[str, tuple[str, lease.LeaseHolder]] = {}
        self.sock: Any = None
        self._auth: Any = None

    def bind(self, sock: Any) -> str:
        self.sock = sock
        return self.local.bind(sock)

    def endpoint(self, instance_id: str, peer: str | None = None) -> Endpoint:
        if peer is None:
            return self.local.endpoint(instance_id)
        router, holder = self._face(self.ip or facing_address(peer))
        public, secret = zmq.curve_keypair()
        self.clients[public] = instance_id
        holder.track(instance_id)
        return {
            "kind": KIND,
            "router": router,
            "lease": holder.address,
            "lease_terms": [self.terms.interval, self.terms.expire],
            "server_key": self.public.decode(),
            "public_key": public.decode(),
            "secret_key": secret.decode(),
            "ip": peer,
            "ports": list(self.ports) if self.ports else None,
        }

    def release(self, instance_id: str) -> None:
        for key in [k for k, v in self.clients.items() if v == instance_id]:
            del self.clients[key]
        for _, holder in self.faces.values():
            holder.forget(instance_id)

    def close(self) -> None:
        for _, holder in self.faces.values():
            holder.stop()
        if self._auth is not None:
            self._auth.stop()
        self.local.close()

    # -- the ZAP handler's question: is this client key one of our children's? -----------
    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.clients

    def _face(self, ip: str) -> tuple[str, lease.LeaseHolder]:
        """The router's TCP endpoint and the lease holder on our address `ip` (made once)."""
        if ip not in self.faces:
            if self._auth is None:
                from zmq.auth.thread import ThreadAuthenticator

                self._auth = ThreadAuthenticator(zmq.Context.instance())
                self._auth.start()
                self._auth.configure_curve_callback(
                    domain=ZAP_DOMAIN.decode(), credentials_provider=self
                )
                curve_server(self.sock, self.secret, ZAP_DOMAIN)
            holder = lease.LeaseHolder(
                self.terms,
                lambda sock: bind_tcp(sock, ip, self.ports),
                lambda sock: curve_server(sock, self.secret, ZAP_DOMAIN),
                self.on_lost,
            )
            self.faces[ip] = (bind_tcp(self.sock, ip, self.ports), holder)
        return self.faces[ip]


class TcpChildSide(ChildSide):
    """The child side in a kernel on another host (see the module docstring)."""

    def connect_router(self, ctx: Any, identity: bytes) -> Any:
        """A Curve DEALER to the router; from now on this kernel keeps its lease."""
        ep = self.endpoint
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IDENTITY, identity)
        self._secure(sock)
        sock.connect(ep["router"])
        interval, expire = ep["lease_terms"]
        lease.keep(ep["lease"], identity.decode(), lease.LeaseTerms(interval, expire), self._secure)
        return sock

    def _secure(self, sock: Any) -> None:
        ep = self.endpoint
        curve_client(sock, ep["public_key"], ep["secret_key"], ep["server_key"])

    def listen(self, instance_id: str) -> tuple[list[Any], str]:
        """A Unix listener for callers on this host and a Curve TCP one for the others."""
        folder = tempfile.mkdtemp(prefix="mkdbg-lines-")  # 0700
        atexit.register(shutil.rmtree, folder, True)
        unix_path = os.path.join(folder, f"d-{instance_id}")
        self.public, self.secret = zmq.curve_keypair()
        router = zmq.Context.instance().socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        curve_server(router, self.secret)
        ports = self.endpoint.get("ports")
        tcp = bind_tcp(router, self.endpoint["ip"], tuple(ports) if ports else None)
        address = f"{tcp};key={self.public.decode()};host={socket.gethostname()};unix={unix_path}"
        return [unix_listener(unix_path), router], address

    def accept(self, listener: Any, max_message: int) -> Line:
        if isinstance(listener, socket.socket):
            return accept_unix(listener, max_message)
        ident, *_ = listener.recv_multipart()  # a caller asks for a line: bind one for it
        pair = _line_socket(max_message)
        curve_server(pair, self.secret)
        ip = self.endpoint["ip"]
        ports = self.endpoint.get("ports")
        endpoint = bind_tcp(pair, ip, tuple(ports) if ports else None)
        listener.send_multipart([ident, endpoint.encode()])
        return ZmqLine(pair)

    def dial(self, address: str, max_message: int) -> Line:
        if not address.startswith("tcp://"):
            return dial_unix(address, max_message)  # a kernel of the meta-kernel's host
        return dial(address, max_message)


def dial(address: str, max_message: int) -> Line:
    """A line to a remote kernel's listeners (`tcp://IP:PORT;key=..;host=..;unix=..`):
    its Unix socket when it runs on this host, else a Curve TCP line; OSError if it is gone."""
    tcp, *fields = address.split(";")
    parts = dict(field.partition("=")[::2] for field in fields)
    if parts.get("host") == socket.gethostname() and parts.get("unix"):
        try:
            return dial_unix(parts["unix"], max_message)
        except OSError:
            pass  # the same name, another machine: over TCP then
    ctx = zmq.Context.instance()
    public, secret = zmq.curve_keypair()
    asker = ctx.socket(zmq.DEALER)
    asker.setsockopt(zmq.LINGER, 0)
    curve_client(asker, public, secret, parts["key"])
    try:
        asker.connect(tcp)
        asker.send(_LINE)
        if not asker.poll(int(DIAL_TIMEOUT * 1000)):
            raise OSError(f"no answer from the kernel at {tcp}")
        endpoint = asker.recv().decode()
    finally:
        asker.close(linger=0)
    pair = _line_socket(max_message)
    curve_client(pair, public, secret, parts["key"])
    pair.connect(endpoint)
    return ZmqLine(pair)


class ZmqLine:
    """A direct line over a ZMQ PAIR socket (whole messages; Curve on TCP)."""

    __slots__ = ("sock",)

    def __init__(self, sock: Any) -> None:
        self.sock = sock

    @property
    def buffered(self) -> bool:
        return bool(self.sock.getsockopt(zmq.EVENTS) & zmq.POLLIN)

    @property
    def pollable(self) -> Any:
        return self.sock

    def send(self, frames: list[bytes]) -> None:
        try:
            self.sock.send_multipart(frames, zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # no peer, or its queue is full: the line is unusable
            raise OSError(f"direct line: {exc}") from exc

    def recv(self) -> list[bytes]:
        frames = self.sock.recv_multipart()
        if len(frames) > 2:
            raise ValueError("a direct-line message has one or two frames")
        return frames

    def close(self) -> None:
        self.sock.close(linger=0)


def _line_socket(max_message: int) -> Any:
    sock = zmq.Context.instance().socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_message + 64)
    return sock


def curve_server(sock: Any, secret: bytes, zap_domain: bytes | None = None) -> None:
    """Make `sock` a CurveZMQ server for the endpoints it binds from now on."""
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, zmq.curve_public(secret))
    if zap_domain:
        sock.setsockopt(zmq.ZAP_DOMAIN, zap_domain)


def curve_client(sock: Any, public: str | bytes, secret: str | bytes, server: str | bytes) -> None:
    sock.setsockopt(zmq.CURVE_PUBLICKEY, _bytes(public))
    sock.setsockopt(zmq.CURVE_SECRETKEY, _bytes(secret))
    sock.setsockopt(zmq.CURVE_SERVERKEY, _bytes(server))


def _bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def bind_tcp(sock: Any, ip: str, ports: tuple[int, int] | None) -> str:
    """Bind `sock` on a free TCP port of `ip` (within `ports`); the bound endpoint."""
    host = f"[{ip}]" if ":" in ip else ip
    if ports:
        port = sock.bind_to_random_port(f"tcp://{host}", ports[0], ports[1] + 1)
    else:
        port = sock.bind_to_random_port(f"tcp://{host}")
    return f"tcp://{host}:{port}"


def facing_address(peer: str) -> str:
    """Our address on the route to `peer` (a UDP socket's connect sends no packet)."""
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((peer, 9))
        return probe.getsockname()[0]
