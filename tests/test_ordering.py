"""CausalOrder: notices of linked calls are handled in causal order (plain data)."""

from __future__ import annotations

from metakernel_dbg.callplane.ordering import CausalOrder


def order(alive: set[str] | None = None) -> CausalOrder:
    peers = {"caller", "callee", "other"} if alive is None else alive
    return CausalOrder(lambda peer: peer in peers)


def msg(n: int, kind: str, dep: list | None = None) -> dict:
    return {"n": n, "k": kind, **({"dep": dep} if dep else {})}


def kinds(ready: list) -> list[tuple[str, str]]:
    return [(peer, m["k"]) for peer, m in ready]


def test_in_order_messages_go_at_once() -> None:
    o = order()
    assert kinds(o.receive("caller", msg(1, "called"), 0.0)) == [("caller", "called")]
    ready = o.receive("callee", msg(1, "out", dep=["caller", 1]), 0.0)
    assert kinds(ready) == [("callee", "out")]
    assert not o.holding


def test_a_message_that_overtook_its_cause_waits_for_it() -> None:
    o = order()
    # the callee's output arrives before the caller's notice of the call it belongs to
    assert o.receive("callee", msg(1, "out", dep=["caller", 1]), 0.0) == []
    assert o.receive("callee", msg(2, "returned"), 0.0) == []  # held behind its own peer
    assert o.holding
    ready = o.receive("caller", msg(1, "called"), 0.0)
    assert kinds(ready) == [("caller", "called"), ("callee", "out"), ("callee", "returned")]
    assert not o.holding


def test_chains_of_dependencies_resolve_in_one_go() -> None:
    o = order()
    # caller -> callee -> other, every notice overtaken by the next kernel's
    assert o.receive("other", msg(1, "returned", dep=["callee", 1]), 0.0) == []
    assert o.receive("callee", msg(1, "called", dep=["caller", 1]), 0.0) == []
    ready = o.receive("caller", msg(1, "called"), 0.0)
    assert kinds(ready) == [("caller", "called"), ("callee", "called"), ("other", "returned")]


def test_an_already_handled_dependency_is_met() -> None:
    o = order()
    o.receive("caller", msg(1, "called"), 0.0)
    o.receive("caller", msg(2, "called"), 0.0)
    assert kinds(o.receive("callee", msg(1, "out", dep=["caller", 1]), 0.0)) == [("callee", "out")]


def test_nothing_waits_for_a_peer_that_is_gone() -> None:
    alive = {"caller", "callee"}
    o = order(alive)
    assert o.receive("callee", msg(1, "out", dep=["caller", 5]), 0.0) == []
    alive.discard("caller")
    assert kinds(o.forget("caller")) == [("callee", "out")]
    # and a dependency on an unknown peer never holds anything
    assert kinds(o.receive("callee", msg(2, "out", dep=["ghost", 1]), 0.0)) == [("callee", "out")]


def test_forget_drops_the_held_messages_of_that_peer() -> None:
    alive = {"caller", "callee"}
    o = order(alive)
    o.receive("callee", msg(1, "out", dep=["caller", 1]), 0.0)
    alive.discard("callee")
    assert o.forget("callee") == []
    assert not o.holding


def test_a_message_held_too_long_is_released() -> None:
    o = order()
    o.receive("callee", msg(1, "out", dep=["caller", 9]), 10.0)
    assert o.release(lost_before=10.0) == []  # not older than the limit yet
    assert kinds(o.release(lost_before=10.5)) == [("callee", "out")]


def test_a_malformed_dependency_is_ignored() -> None:
    o = order()
    for dep in (["caller"], ["caller", "1"], "caller", [1, 2, 3]):
        ready = o.receive("callee", {"n": 1 + len(str(dep)), "k": "out", "dep": dep}, 0.0)
        assert kinds(ready) == [("callee", "out")]
