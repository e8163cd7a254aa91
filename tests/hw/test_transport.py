"""Transports: URL handling, transcript hashing and its cap, the session deadline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hw.errors import TransportError
from hw.transcript import Transcript
from hw.transport import Deadline, normalise_url, open_transport


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rfc2217://127.0.0.1:7000", "rfc2217://127.0.0.1:7000?ign_set_control"),
        ("rfc2217://127.0.0.1:7000?ign_set_control", "rfc2217://127.0.0.1:7000?ign_set_control"),
        ("rfc2217://host:1?timeout=5", "rfc2217://host:1?timeout=5&ign_set_control"),
        ("socket://127.0.0.1:7000", "socket://127.0.0.1:7000"),
        ("/dev/ttyUSB0", "/dev/ttyUSB0"),
        ("loop://", "loop://"),
    ],
)
def test_rfc2217_gets_ign_set_control(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


def test_loop_transport_records_a_hashed_transcript(tmp_path: Path) -> None:
    transcript = Transcript()
    port = open_transport("loop://", baud=115200, deadline=Deadline(10), transcript=transcript)
    try:
        port.write(b"hello\r\n")
        got = b""
        while len(got) < 7:
            chunk = port.read(100, 1.0)
            assert chunk
            got += chunk
    finally:
        port.close()
    assert got == b"hello\r\n"
    summary = transcript.finish(tmp_path)
    assert summary.bytes_sent == summary.bytes_received == 7
    assert summary.path is not None
    blob = Path(summary.path).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == summary.sha256
    lines = [json.loads(line) for line in blob.splitlines()]
    assert lines[0]["provcheck_transcript"] == 1
    assert {line["dir"] for line in lines[1:]} == {"tx", "rx"}


def test_transcript_cap_truncates_but_keeps_counting() -> None:
    transcript = Transcript(cap=100)
    for _ in range(50):
        transcript.received(b"x" * 10)
    summary = transcript.finish(None)
    assert summary.truncated
    assert summary.recorded_bytes == 100
    assert summary.bytes_received == 500


def test_same_session_gives_same_hash_only_when_bytes_match() -> None:
    one, two = Transcript(), Transcript()
    one.received(b"abc")
    two.received(b"abd")
    assert one.serialise() != two.serialise()


def test_deadline_is_enforced() -> None:
    deadline = Deadline(0.0)
    with pytest.raises(TransportError, match="deadline"):
        deadline.check()


def test_unopenable_port_is_a_transport_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot open"):
        open_transport(str(tmp_path / "no-such-tty"), baud=None, deadline=Deadline(5), transcript=Transcript())
    with pytest.raises(TransportError, match="cannot open"):
        open_transport("rfc2217://127.0.0.1:1", baud=None, deadline=Deadline(5), transcript=Transcript())


def test_pty_hung_up_during_open_is_a_transport_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI once saw a simulator hang up between pyserial's open() and its tcsetattr: termios.error
    (not an OSError) escaped as a crash. The race cannot be timed, so the kernel's answer is
    injected (a stand-in, not a peer): a real pty is opened and its line settings fail with EIO."""
    import os
    import termios

    master, slave = os.openpty()
    try:
        def hung_up(*_args: object) -> None:
            raise termios.error(5, "Input/output error")

        monkeypatch.setattr(termios, "tcsetattr", hung_up)
        with pytest.raises(TransportError, match=r"cannot open .*Input/output error"):
            open_transport(os.ttyname(slave), baud=None, deadline=Deadline(5), transcript=Transcript())
    finally:
        os.close(master)
        os.close(slave)
