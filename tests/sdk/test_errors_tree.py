"""One exception root for everything the SDK raises on purpose."""

from __future__ import annotations

import inspect

import aiconexus
from aiconexus import (
    AIConexusError,
    ClientError,
    GatewayAuthenticationError,
    HandshakeError,
    IoapError,
)
from aiconexus import errors as sdk_errors
from aiconexus.protocol import errors as protocol_errors


def test_every_exported_exception_has_the_common_root() -> None:
    """Protocol errors and SDK runtime errors are all AIConexusError."""
    exported = [getattr(aiconexus, name) for name in aiconexus.__all__]
    classes = [c for c in exported if inspect.isclass(c) and issubclass(c, BaseException)]
    assert IoapError in classes and ClientError in classes
    for cls in classes:
        assert issubclass(cls, AIConexusError), cls


def test_gateway_authentication_is_a_handshake_error() -> None:
    """The SDK's GatewayAuthenticationError is the core's HandshakeError, and a ClientError."""
    assert issubclass(GatewayAuthenticationError, HandshakeError)
    assert issubclass(GatewayAuthenticationError, ClientError)


def test_the_module_docstrings_draw_every_class() -> None:
    """Each exception class appears in the tree of its module's docstring."""
    for module in (protocol_errors, sdk_errors):
        tree = module.__doc__ or ""
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, BaseException):
                assert name in tree, f"{name} is missing from {module.__name__}'s tree"
