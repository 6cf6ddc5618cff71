"""The transport seam of the call plane: how kernels reach the router and each other.

The wire format (`wire.py`) says what a message is; a transport says where it travels. Two
kinds of connection exist:

- every child kernel holds one ZMQ DEALER connected to the router's ROUTER socket;
- a kernel granted a *link* opens a direct line to the callee's own listener and sends
  it calls straight away (one hop each way).

A transport has a meta side, `Transport`, owned by the router, and a child side,
`ChildSide`, used by a child runtime. They meet in the *endpoint*: a JSON object the
meta side writes for each child (sent over the kernel's own authenticated connection at
bootstrap) and the child side reads. Its `kind` names the transport, so a runtime in any
language picks the matching child side. A child on another host gets an endpoint of a
transport that crosses hosts (`tcp.py`); children on this host keep the local one.

Lifecycle, in the manner of jupyter_client's provisioners:

1. `Transport.bind(sock)`: the router's socket is secured and bound (once per router);
2. `Transport.endpoint(instance_id, peer)`: for every child, before its bootstrap, on the
   router thread (`peer`: the address of the child's host when that is another host);
3. in the child: `ChildSide.connect_router`, then `listen` (its own direct-line
   listeners, whose address goes to the router in the hello) and, per link granted,
   `dial(address)`;
4. `Transport.release(instance_id)`: the child is gone (router thread);
5. `Transport.close()`: the router is gone; files and keys it made are removed.

Lines and listeners are polled with a `zmq.Poller`, which reports a ZMQ socket as itself
and anything else by its file descriptor (`poll_key`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

Endpoint = dict[str, Any]


class Line(Protocol):
    """One direct line between two kernels: whole messages (one or two frames) each way."""

    @property
    def buffered(self) -> bool:
        """A message may already wait in the line's buffer (a poll would not report it)."""

    @property
    def pollable(self) -> Any:
        """What a `zmq.Poller` polls and reports for this line (a ZMQ socket, or a file
        descriptor)."""

    def send(self, frames: list[bytes]) -> None:
        """Send one message; OSError if the peer is gone."""

    def recv(self) -> list[bytes]:
        """The next message (blocks until it is whole); EOFError when the peer closed it."""

    def close(self) -> None: ...


def poll_key(pollable: Any) -> Any:
    """How a `zmq.Poller` reports `pollable`: a ZMQ socket as itself, others by fileno()."""
    import zmq

    return pollable if isinstance(pollable, zmq.Socket) else pollable.fileno()


class Transport(ABC):
    """The meta side: where the router listens and what children are told about it."""

    kind: str

    @abstractmethod
    def bind(self, sock: Any) -> str:
        """Secure and bind the router's ROUTER socket; returns the bound address."""

    @abstractmethod
    def endpoint(self, instance_id: str, peer: str | None = None) -> Endpoint:
        """What child `instance_id` needs to connect (JSON; includes `"kind"`).

        `peer`: the address of the host the child runs on when that is not this host.
        """

    def release(self, instance_id: str) -> None:  # noqa: B027 - optional, nothing by default
        """Forget what `endpoint` made for a child that is gone (nothing by default)."""

    @abstractmethod
    def close(self) -> None:
        """Release what `bind` made."""


class ChildSide(ABC):
    """The child side: a runtime's router connection and its direct lines."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    @abstractmethod
    def connect_router(self, ctx: Any, identity: bytes) -> Any:
        """A ZMQ DEALER connected (and secured) to the router."""

    @abstractmethod
    def listen(self, instance_id: str) -> tuple[list[Any], str]:
        """This kernel's direct-line listeners (ZMQ sockets, or objects with fileno()) and
        the address callers dial."""

    @abstractmethod
    def accept(self, listener: Any, max_message: int) -> Line:
        """The next caller's line (`listener`, one of ours, is readable)."""

    @abstractmethod
    def dial(self, address: str, max_message: int) -> Line:
        """A line to another kernel's listener; OSError if it is gone."""
