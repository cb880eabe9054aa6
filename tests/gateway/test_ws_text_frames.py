"""Text frames written straight to bytes equal those websockets' own server core writes."""

from __future__ import annotations

import logging

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

from aiconexus_gateway.transport.ws_text_frames import (
    can_write_directly,
    text_frames,
    through_core,
)

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def _open_server() -> ServerProtocol:
    conn = ServerProtocol(logger=logging.getLogger("test.ws_text_frames"))
    conn.state = State.OPEN
    return conn


@pytest.mark.parametrize("size", SIZES)
def test_one_frame_matches_the_core_at_each_length_boundary(size: int) -> None:
    """Header forms 7-bit, 16-bit and 64-bit: byte for byte what ServerProtocol writes."""
    text = "a" * size
    conn = _open_server()
    assert can_write_directly(conn)
    expected = through_core(conn, {"type": "websocket.send", "text": text}, batch=False)
    assert text_frames([text]) == expected


def test_a_batch_matches_the_core_and_parses_back() -> None:
    """Several frames (non-ASCII among them) in one buffer, parsed back in order."""
    texts = ["é" * 70, "", "x" * 200, "🙂" * 20000]
    conn = _open_server()
    expected = through_core(conn, {"texts": texts}, batch=True)
    data = text_frames(texts)
    assert data == expected
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parsed = []
    for _ in texts:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            parsed.append(done.value)
    assert [(f.opcode, f.fin, f.data.decode()) for f in parsed] == [
        (Opcode.TEXT, True, t) for t in texts
    ]


def test_not_written_directly_unless_open_plain_and_quiet() -> None:
    """Closing, a fragmented message under way, or frame logging: the core writes instead."""
    conn = _open_server()
    conn.state = State.CLOSING
    assert not can_write_directly(conn)
    fragmenting = _open_server()
    fragmenting.send_text(b"part", fin=False)
    assert not can_write_directly(fragmenting)
    logged = _open_server()
    logged.debug = True
    assert not can_write_directly(logged)
