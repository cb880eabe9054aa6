"""Observation: what operators see of a running gateway.

Owns the Prometheus metrics, structured logs, the rate-bounded log of refusals, the
status page and its once-a-second sampler, ``GET /agents`` and ``GET /agents/events``. May
import the shared top-level pieces and :mod:`..backend`; it reads the hub only through
what is passed in (type-only imports of :mod:`..routing`).
"""
