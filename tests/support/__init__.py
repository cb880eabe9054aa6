"""Test support shared by every suite: free ports, real gateway processes, a raw client.

* :mod:`support.gateway`: :class:`GatewayProcess` runs ``aiconexus-gateway`` as a subprocess
  with a given environment and waits for ``/health``.
* :mod:`support.client`: :class:`RawClient`, a bare IoAP client over ``websockets`` that does
  the CHALLENGE/REGISTER handshake with an Identity and exposes every frame.
* :mod:`support.backends`: ``BACKENDS`` (the backends the gateway suite runs against) and
  :func:`backend_environment` (what each backend needs started).
"""
