"""Sans-IO: one DAP thread per render in the merge core (plain data, no kernels)."""

from __future__ import annotations

from metakernel_dbg.debug.dapcore import IdMap, StopState, threads_body, translate_child_event


def test_threads_body_lists_every_render_with_thread_one_first() -> None:
    body = threads_body([(3, "outer"), (1, "main"), (2, "")])
    assert body == {
        "threads": [
            {"id": 1, "name": "MainThread"},
            {"id": 2, "name": "render 2"},
            {"id": 3, "name": "render 3 (outer)"},
        ]
    }
    assert threads_body() == {"threads": [{"id": 1, "name": "MainThread"}]}


def test_a_stop_is_on_its_render_thread_and_so_is_its_continued() -> None:
    state = StopState(IdMap())
    stop = {"event": "stopped", "body": {"threadId": 7, "reason": "breakpoint"}}
    [stopped] = translate_child_event("k2", stop, state, thread_id=4)
    assert stopped["body"]["threadId"] == 4 and state.stopped_threads == [4]
    assert state.child_thread_id == 7, "the child's own thread is kept for its requests"
    [continued] = translate_child_event("k2", {"event": "continued", "body": {}}, state)
    assert continued["body"] == {"threadId": 4, "allThreadsContinued": True}
    assert state.stopped_threads == [] and state.thread_id == 1
