"""Token buckets per DID and per client address: frames and bytes per second, with a burst.

The router asks :meth:`RateLimits.check` for every parsed frame of a registered session,
before the signature is verified, so a refusal costs a dictionary look-up and a little
arithmetic. A refused frame takes no tokens (and its id is not used up): the client may send
it again after the ``retry_after_ms`` the refusal names. Buckets are kept per DID (a
reconnect does not refill them) and, in a second table, per client address (all the DIDs of
one address share it: RATE_LIMIT_FRAMES_PER_S_PER_IP, RATE_LIMIT_BYTES_PER_S_PER_IP), each in
a bounded, least-recently-used table. :func:`check_both` takes a frame from both or neither.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from aiconexus_gateway.settings import Settings

__all__ = ["MAX_BUCKETS", "RateLimits", "TokenBucket", "check_both"]

MAX_BUCKETS = 100_000
"""Most DIDs whose buckets are remembered; the least recently used are dropped beyond."""


class TokenBucket:
    """Tokens of one DID: frames and bytes, refilled by elapsed time (monotonic seconds)."""

    __slots__ = ("bytes", "frames", "stamp")

    def __init__(self, frames: float, size: float, stamp: float) -> None:
        self.frames = frames
        self.bytes = size
        self.stamp = stamp


class RateLimits:
    """Token buckets per key (a DID or an address); a rate of 0 turns that bucket off."""

    def __init__(
        self,
        *,
        frames_per_s: float,
        bytes_per_s: float,
        burst_s: float,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.frames_per_s = frames_per_s
        self.bytes_per_s = bytes_per_s
        self.frame_capacity = max(1.0, frames_per_s * burst_s)
        self.byte_capacity = max(1.0, bytes_per_s * burst_s)
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        """The limits RATE_LIMIT_FRAMES_PER_S, RATE_LIMIT_BYTES_PER_S, RATE_LIMIT_BURST_S."""
        return cls(
            frames_per_s=settings.rate_limit_frames_per_s,
            bytes_per_s=settings.rate_limit_bytes_per_s,
            burst_s=settings.rate_limit_burst_s,
        )

    @classmethod
    def per_address(cls, settings: Settings) -> RateLimits:
        """RATE_LIMIT_FRAMES_PER_S_PER_IP, RATE_LIMIT_BYTES_PER_S_PER_IP, RATE_LIMIT_BURST_S."""
        return cls(
            frames_per_s=settings.rate_limit_frames_per_s_per_ip,
            bytes_per_s=settings.rate_limit_bytes_per_s_per_ip,
            burst_s=settings.rate_limit_burst_s,
        )

    @property
    def enabled(self) -> bool:
        """False when both rates are 0."""
        return bool(self.frames_per_s or self.bytes_per_s)

    def __len__(self) -> int:
        return len(self._buckets)

    def check(
        self,
        did: str,
        size: int,
        *,
        count_frame: bool = True,
        take: bool = True,
        now: float | None = None,
    ) -> int:
        """Take one frame of ``size`` bytes from the buckets of ``did`` (or of an address).

        Returns 0 when the frame may pass (tokens taken), else the milliseconds after which
        it would (nothing taken). ``count_frame=False`` charges only the bytes bucket;
        ``take=False`` only asks (nothing is taken either way).
        """
        if now is None:
            now = time.monotonic()
        bucket = self._bucket(did, now)
        elapsed = now - bucket.stamp
        bucket.stamp = now
        wait = 0.0
        frame_rate = self.frames_per_s
        if frame_rate:  # refilled on every call (the stamp moved), charged only when counted
            frames = bucket.frames + elapsed * frame_rate
            if frames > self.frame_capacity:
                frames = self.frame_capacity
            bucket.frames = frames
            if count_frame and frames < 1.0:
                wait = (1.0 - frames) / frame_rate
        byte_rate = self.bytes_per_s
        capacity = self.byte_capacity
        need = float(size) if size < capacity else capacity
        if byte_rate:
            tokens = bucket.bytes + elapsed * byte_rate
            if tokens > capacity:
                tokens = capacity
            bucket.bytes = tokens
            if tokens < need and (need - tokens) / byte_rate > wait:
                wait = (need - tokens) / byte_rate
        if wait > 0.0:
            return max(1, math.ceil(wait * 1000.0))
        if not take:
            return 0
        if frame_rate and count_frame:
            bucket.frames -= 1.0
        if byte_rate:
            bucket.bytes -= need
        return 0

    def _bucket(self, did: str, now: float) -> TokenBucket:
        buckets = self._buckets
        bucket = buckets.get(did)
        if bucket is None:
            bucket = TokenBucket(self.frame_capacity, self.byte_capacity, now)
            buckets[did] = bucket
            if len(buckets) > self.max_buckets:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(did)
        return bucket


def check_both(
    agent: RateLimits | None,
    did: str,
    address: RateLimits | None,
    ip: str,
    size: int,
    *,
    count_frame: bool = True,
) -> tuple[int, str]:
    """Take one frame from the DID's buckets and the address's, or from neither.

    Returns ``(0, "")`` when it passes, else the milliseconds to wait and which limit
    refused it (``"agent"`` or ``"address"``). ``None`` stands for a limit that is off.
    """
    now = time.monotonic()
    if agent is not None:
        only = address is None  # one bucket: take at once
        wait = agent.check(did, size, count_frame=count_frame, take=only, now=now)
        if wait or only:
            return wait, "agent" if wait else ""
    if address is not None:
        wait = address.check(ip, size, count_frame=count_frame, now=now)
        if wait:
            return wait, "address"
    if agent is not None:
        agent.check(did, size, count_frame=count_frame, now=now)
    return 0, ""
