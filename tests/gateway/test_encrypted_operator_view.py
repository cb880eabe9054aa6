"""What the gateway operator can see of encrypted frames: sizes, never the plaintext.

Each backend is run with DEBUG logs; a frame is stored for an offline recipient and then
delivered. The operator's views (the gateway's log, ``/agents``, the SQLite file or the
Redis database) hold no trace of a marker sent encrypted, while a control marker sent in
plain in the same run is found in the store: the inspection itself works.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support.client import RawClient
from support.gateway import GatewayProcess
from support.redis_server import redis_or_skip

from aiconexus.protocol import Identity, Message

SECRET = "e2e-secret-marker-5f1b"
CONTROL = "plain-control-marker-9c2d"


def _bytes(value: object) -> bytes:
    """A value read from Redis as bytes (the client answers bytes unless told to decode)."""
    return value if isinstance(value, bytes) else str(value).encode()


def redis_contents(url: str) -> bytes:
    """Every key and value of a Redis database, read by type, as one byte string."""
    client = redis.Redis.from_url(url)
    out: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = _bytes(client.type(key)).decode()
        out.append(_bytes(key))
        values: list[object] = []
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "list":
            values = list(client.lrange(key, 0, -1))
        elif kind == "hash":
            values = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = list(client.zrange(key, 0, -1))
        elif kind == "stream":
            for _, entry in client.xrange(key) or []:
                values += [item for pair in (entry or {}).items() for item in pair]
        out.extend(_bytes(value) for value in values)
    client.close()
    return b"\n".join(out)


def sqlite_contents(path: Path) -> bytes:
    """The bytes of a SQLite database with its write-ahead log."""
    files = [path, path.with_name(path.name + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


@contextlib.contextmanager
def backend(name: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """(gateway env, where its store is) for ``name``."""
    if name == "sqlite":
        path = tmp_path / "store.db"
        yield {"STORAGE_TYPE": "sqlite", "SQLITE_PATH": str(path)}, str(path)
        return
    with redis_or_skip() as server:
        url = server.url_of(3)
        yield {"STORAGE_TYPE": "redis", "REDIS_URL": url}, url


@pytest.mark.parametrize("name", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def test_the_operator_sees_no_plaintext(name: str, tmp_path: Path) -> None:
    """Logs at DEBUG, /agents and the store hold the control marker at most, never the secret."""
    with backend(name, tmp_path) as (env, store):
        env = {**env, "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json"}
        with GatewayProcess(env, tmp_path / "gw") as gateway:
            bob_id = Identity.generate()
            alice = await RawClient.connect(gateway.ws_url, capabilities=["e2e-view"])
            bob = await RawClient.connect(gateway.ws_url, bob_id)
            await bob.close()  # offline: what follows is stored
            secret = alice.make("EXEC_REQUEST", bob_id.did, {"args": {"k": SECRET}}, encrypt=True)
            await alice.send_text(secret.to_json())
            control = await alice.send_message("INTENT", bob_id.did, {"query": CONTROL})
            assert await alice.expect_acks(2) == {secret.id: "queued", control.id: "queued"}

            stored = sqlite_contents(Path(store)) if name == "sqlite" else redis_contents(store)
            assert CONTROL.encode() in stored  # the frames are there to be read...
            assert SECRET.encode() not in stored  # ...but the encrypted one is not readable
            listing = gateway.get("/agents").text
            assert "e2e-view" in listing and SECRET not in listing

            bob = await RawClient.connect(gateway.ws_url, bob_id)
            first = Message.parse(await bob.recv_text())
            assert first.id == secret.id
            assert first.decrypt(bob_id).payload["args"]["k"] == SECRET
            assert Message.parse(await bob.recv_text()).id == control.id
            await alice.close()
            await bob.close()
            log = gateway.log()
    assert secret.id in log  # DEBUG logs name the frame...
    assert SECRET not in log and secret.payload["enc"]["ct"] not in log  # ...never its content
