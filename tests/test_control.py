"""The control protocol on its own: what a client encodes, the monitor decodes to the same
request, and what it cannot decode it refuses (the monitor then drops the client)."""

from __future__ import annotations

import pytest

from lxpy.runtime import control
from lxpy.runtime.rundir import State

REQUESTS = [
    (control.StateRequest(), b"state\n"),
    (control.Stop(30.0, False), b"stop 30.0 0\n"),
    (control.Stop(0, True), b"stop 0 1\n"),
    (control.Log(), b"log\n"),
    (control.Console(), b"console\n"),
    (
        control.PortAdd("udp", "127.0.0.1", 5353, "10.0.3.7", 53),
        b"port add udp 127.0.0.1 5353 10.0.3.7 53\n",
    ),
    (control.PortAdd("tcp", "::1", 80, "10.0.3.7", 80), b"port add tcp ::1 80 10.0.3.7 80\n"),
    (control.PortRemove("tcp", "0.0.0.0", 8080), b"port rm tcp 0.0.0.0 8080\n"),
]


def _fields(request: control.Request) -> dict[str, object]:
    slots: tuple[str, ...] = type(request).__slots__
    return {slot: getattr(request, slot) for slot in slots}


@pytest.mark.parametrize(("request_", "line"), REQUESTS, ids=lambda r: type(r).__name__)
def test_a_request_decodes_to_what_was_encoded(request_: control.Request, line: bytes) -> None:
    assert request_.encode() == line
    decoded = control.parse(line.rstrip(b"\n"))
    assert type(decoded) is type(request_)
    assert _fields(decoded) == _fields(request_)


def test_what_older_clients_may_send_still_decodes() -> None:
    stop = control.parse(b"stop")
    assert isinstance(stop, control.Stop)
    assert (stop.timeout, stop.force) == (control.STOP_TIMEOUT, False)
    assert isinstance(control.parse(b"state now"), control.StateRequest)


@pytest.mark.parametrize(
    "line",
    [
        b"x" * (control.MAX_REQUEST + 1),
        b"\xff\xfe state",
        b"",
        b"bogus",
        b"port",
        b"port add tcp 0.0.0.0 80 10.0.3.7",
        b"port add tcp 0.0.0.0 eighty 10.0.3.7 80",
        b"port add tcp 80 10.0.3.7 80",  # an older client's, without the listen address
        b"port rm",
        b"port rm 80/tcp",
        b"port rm tcp 0.0.0.0 80 81",
        b"stop soon",
    ],
)
def test_what_is_no_request_is_refused(line: bytes) -> None:
    with pytest.raises(control.ProtocolError):
        control.parse(line)


def test_replies() -> None:
    assert control.Reply().encode() == b"ok\n"
    assert control.Reply("no such forward").encode() == b"error no such forward\n"
    assert control.Reply.decode("ok\n").ok
    assert control.Reply.decode("error host port 80/tcp is taken\n").error == (
        "host port 80/tcp is taken"
    )
    hung_up = control.Reply.decode("")  # the monitor hung up without a word
    assert hung_up.error == "the monitor hung up without an answer"
    assert control.StateReply(State.STOPPING, 42).encode() == b"STOPPING 42\n"
