"""The limit modules without I/O: token buckets, per-IP counts, refusal verdicts, REGISTER bounds."""

from __future__ import annotations

import logging
import resource
import subprocess
import sys
from typing import Any

import pytest

from aiconexus.protocol import MAX_JSON_DEPTH, IoapError, MalformedMessageError, parse_envelope
from aiconexus_gateway.guards.iplimits import IpLimits
from aiconexus_gateway.guards.ratelimit import RateLimits, check_both
from aiconexus_gateway.guards.refusals import RefusalPolicy, RefusalState
from aiconexus_gateway.guards.register_checks import check_register_payload
from aiconexus_gateway.routing.router import guess_id
from aiconexus_gateway.server import check_open_files
from aiconexus_gateway.settings import LIMITS, Settings


def test_frame_bucket_refuses_past_the_burst_and_names_the_wait() -> None:
    """10 frames/s, burst 1 s: 10 pass, the 11th waits ~100 ms, and passes once refilled."""
    limits = RateLimits(frames_per_s=10, bytes_per_s=0, burst_s=1.0)
    assert [limits.check("did", 100, now=0.0) for _ in range(10)] == [0] * 10
    assert limits.check("did", 100, now=0.0) == 100
    assert limits.check("other", 100, now=0.0) == 0  # per DID
    assert limits.check("did", 100, now=0.1) == 0


def test_byte_bucket_and_exempt_frames() -> None:
    """Bytes are charged even for frames the frame bucket lets through (count_frame=False)."""
    limits = RateLimits(frames_per_s=1, bytes_per_s=1000, burst_s=1.0)
    assert limits.check("did", 10, now=0.0) == 0
    assert limits.check("did", 10, now=0.0) > 0  # frame bucket empty
    assert limits.check("did", 500, count_frame=False, now=0.0) == 0  # an ACK to the gateway
    assert limits.check("did", 600, count_frame=False, now=0.0) == 110  # bytes: 110 ms


def test_buckets_are_bounded_and_zero_turns_limits_off() -> None:
    """The LRU table keeps at most max_buckets DIDs; rates of 0 mean no limit."""
    limits = RateLimits(frames_per_s=1, bytes_per_s=1, burst_s=1.0, max_buckets=3)
    for index in range(10):
        limits.check(f"did{index}", 1, now=0.0)
    assert len(limits) == 3
    off = RateLimits(frames_per_s=0, bytes_per_s=0, burst_s=1.0)
    assert not off.enabled
    assert all(off.check("did", 10**6, now=0.0) == 0 for _ in range(1000))


def test_ip_limits_count_each_stage() -> None:
    """Pre-upgrade TCP, pre-auth and open WebSockets are bounded per address; 0 is off."""
    limits = IpLimits(max_connections=3, max_preauth=2, registrations_per_minute=0)
    assert limits.head_started("a") == (None, True) and limits.head_started("a") == (None, True)
    assert limits.head_started("a")[0] is not None
    assert limits.head_started("b") == (None, True)
    limits.head_done("a")
    limits.head_done("a")
    assert limits.ws_opened("a") is None and limits.ws_opened("a") is None
    assert "unauthenticated" in (limits.ws_opened("a") or "")
    limits.ws_authenticated("a")
    limits.ws_authenticated("a")
    assert limits.ws_opened("a") is None
    limits.ws_authenticated("a")
    assert "too many connections" in (limits.ws_opened("a") or "")
    limits.ws_closed("a", authenticated=True)
    assert limits.ws_opened("a") is None
    off = IpLimits(max_connections=0, max_preauth=0, registrations_per_minute=0)
    assert all(off.ws_opened("a") is None and off.head_started("a")[0] is None for _ in range(500))
    assert off.registration_wait_ms("a") == 0


def test_registrations_per_minute() -> None:
    """60/minute: 60 at once, then one a second."""
    limits = IpLimits(max_connections=0, max_preauth=0, registrations_per_minute=60)
    assert all(limits.registration_wait_ms("a", now=0.0) == 0 for _ in range(60))
    assert limits.registration_wait_ms("a", now=0.0) == 1000
    assert limits.registration_wait_ms("b", now=0.0) == 0
    assert limits.registration_wait_ms("a", now=1.0) == 0


def test_refusal_policy_streak_and_error_budget() -> None:
    """A streak of parse/verify refusals closes; ERRORs per second are bounded; 0 is off."""
    policy = RefusalPolicy(streak_limit=3, errors_per_s=2)
    state = RefusalState()
    verdicts = [policy.refused(state, "MALFORMED_MESSAGE", now=0.0) for _ in range(3)]
    assert [(v.answer, v.close) for v in verdicts] == [(True, False), (True, False), (False, True)]
    policy.accepted(state)
    assert not policy.refused(state, "INVALID_SIGNATURE", now=1.0).close
    assert not policy.refused(state, "RATE_LIMITED", now=1.0).close  # not a streak code
    unverified = RefusalState()
    verdicts = [policy.refused(unverified, "UNAUTHORIZED", verified=False, now=2.0) for _ in "abc"]
    assert [(v.answer, v.close) for v in verdicts] == [(True, False), (True, False), (False, True)]
    assert policy.refused(RefusalState(), "UNAUTHORIZED", now=2.0).answer  # verified: answered
    limited = RefusalState()
    for _ in range(5):  # flow control, not a fault: budgeted, never a streak
        assert not policy.refused(limited, "RATE_LIMITED", verified=False, now=3.0).close
    off = RefusalPolicy(streak_limit=0, errors_per_s=0)
    fresh = RefusalState()
    assert all(off.refused(fresh, "MALFORMED_MESSAGE").answer for _ in range(1000))
    assert not off.refused(fresh, "MALFORMED_MESSAGE").close


def _payload(**fields: Any) -> dict[str, Any]:
    return {"nonce": "n", "capabilities": [], "metadata": {}, **fields}


@pytest.mark.parametrize(
    ("fields", "setting"),
    [
        ({"capabilities": ["c"] * 65}, "register_max_capabilities"),
        ({"capabilities": ["c" * 129]}, "register_max_capability_length"),
        ({"metadata": {"k": "v" * 17000}}, "register_max_metadata_bytes"),
        (
            {"metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}},
            "register_max_metadata_depth",
        ),
        (
            {"capabilities": ["c"], "capability_info": {"c": {"description": "d" * 66000}}},
            "register_max_capability_info_bytes",
        ),
        (
            {
                "capability_info": {
                    "c": {
                        "args_schema": {
                            "properties": {"a": {"items": [[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}}
                        }
                    }
                }
            },
            "register_max_capability_info_depth",
        ),
    ],
)
def test_register_bounds_and_their_off_switch(fields: dict[str, Any], setting: str) -> None:
    """Each REGISTER_MAX_* refuses with MALFORMED_MESSAGE; set to 0 it lets the payload pass."""
    with pytest.raises(MalformedMessageError, match=setting.upper()):
        check_register_payload(_payload(**fields), Settings())
    check_register_payload(_payload(**fields), Settings().replace(**{setting: 0}))


def test_nesting_and_container_bounds_of_every_frame() -> None:
    """Depth 33 or >16384 containers: MALFORMED_MESSAGE before the envelope is looked at."""
    for text in (
        '{"a":' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}",
        '{"a":[' + ",".join(["{}"] * 16385) + "]}",
    ):
        with pytest.raises(MalformedMessageError):
            parse_envelope(text)
    with pytest.raises(IoapError) as caught:  # depth 32 is fine: the envelope check comes next
        parse_envelope('{"a":' + "[" * 31 + "]" * 31 + "}")
    assert "version" in str(caught.value)


def test_guess_id_reads_ids_of_frames_orjson_refuses() -> None:
    """1e400, lone surrogates, binary frames: the id is still found."""
    assert guess_id('{"id":"a1","n":1e400}') == "a1"
    assert guess_id('{"s":"\\ud800","id": "a2"}') == "a2"
    assert guess_id(b'{"id":"a3"}\xff') == "a3"
    assert guess_id('{"id":"' + "x" * 129 + '"}') is None
    assert guess_id("not json") is None


def test_open_file_limit_is_raised_or_warned(caplog: pytest.LogCaptureFixture) -> None:
    """MAX_CONNECTIONS beyond the hard RLIMIT_NOFILE: one warning naming the setting."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with caplog.at_level(logging.WARNING, logger="aiconexus.gateway"):
            assert check_open_files(10) >= min(soft, 84)
            assert not caplog.records
            huge = 10**9 if hard == resource.RLIM_INFINITY else hard
            check_open_files(huge)
        assert any("MAX_CONNECTIONS" in r.getMessage() for r in caplog.records)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_new_settings_are_read_from_the_environment() -> None:
    """Each new limit is read from its variable; 0 is accepted (off)."""
    names = [name.upper() for name in LIMITS]
    settings = Settings.from_env({name: "0" for name in names} | {"RATE_LIMIT_BURST_S": "0.5"})
    for name in names:
        assert getattr(settings, name.lower()) == 0, name
    assert settings.rate_limit_burst_s == 0.5
    assert Settings.from_env({"ERRORS_PER_S": "7"}).errors_per_s == 7


def test_uncounted_frames_do_not_cost_the_frame_bucket_its_refill() -> None:
    """A recipient's ACKs (count_frame=False) between its frames keep the refill they waited for."""
    limits = RateLimits(frames_per_s=10, bytes_per_s=0, burst_s=0.1)  # one frame, 10 a second
    assert limits.check("did", 10, now=0.0) == 0
    assert limits.check("did", 10, count_frame=False, now=0.09) == 0  # an ACK, 90 ms later
    assert limits.check("did", 10, now=0.1) == 0  # 100 ms after the first: the token is back


def test_check_both_takes_from_both_or_neither() -> None:
    """A frame the address refuses takes nothing from the agent's bucket, and the reverse."""
    agent = RateLimits(frames_per_s=2, bytes_per_s=0, burst_s=1.0)
    address = RateLimits(frames_per_s=3, bytes_per_s=0, burst_s=1.0)
    assert check_both(agent, "a", address, "ip", 10) == (0, "")
    assert check_both(agent, "a", address, "ip", 10) == (0, "")
    assert check_both(agent, "a", address, "ip", 10)[1] == "agent"  # a's 2 are used up
    assert check_both(agent, "b", address, "ip", 10) == (0, "")  # the address's third
    assert check_both(agent, "c", address, "ip", 10)[1] == "address"
    assert check_both(agent, "c", None, "ip", 10) == (0, "")  # c lost no token above
    assert check_both(agent, "c", None, "ip", 10) == (0, "")
    assert check_both(None, "c", address, "other", 10) == (0, "")


def _check_under_hard_limit(hard: int, max_connections: int) -> str:
    """Stderr of check_open_files(max_connections) in a process whose hard limit is ``hard``."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stderr, level=logging.INFO)\n"
        "from aiconexus_gateway.server import check_open_files\n"
        f"print(check_open_files({max_connections}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=limit, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() + "\n" + done.stderr


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] not in (resource.RLIM_INFINITY,)
    and resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 20_000,
    reason="needs a hard open-file limit of at least 20,000",
)
def test_default_start_under_a_hard_limit_of_20000_does_not_warn() -> None:
    """The default MAX_CONNECTIONS=10000 fits 20,000 files: raised to it, an INFO, no WARNING."""
    output = _check_under_hard_limit(20_000, Settings().max_connections)
    assert output.startswith("20000\n")
    assert "WARNING" not in output and "room for" in output
    short = _check_under_hard_limit(5_000, Settings().max_connections)
    assert "WARNING" in short and "MAX_CONNECTIONS=10000" in short
