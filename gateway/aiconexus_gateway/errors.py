"""The root of the gateway's own exceptions (errors of its set-up and of its parts).

::

    aiconexus.protocol.AIConexusError          root of everything the project raises
    ├── aiconexus.protocol.IoapError ...       refusals with a wire code, answered as ERROR
    └── GatewayError                           the gateway's own errors
        ├── SettingsError                      a setting has an invalid value (also ValueError)
        ├── PolicyError                        POLICY_FILE cannot be used (also ValueError)
        ├── KeyFileError                       the key file cannot be read as a gateway key
        ├── LogFileError                       LOG_FILE cannot be opened (also OSError)
        ├── ListenError                        the gateway cannot listen (also OSError)
        ├── ClientDisconnected                 a send to a closed WebSocket (also OSError)
        ├── BackendUnavailableError            the shared backend cannot be reached now
        ├── StoreFullError                     the offline store refused a frame (QUEUE_FULL)
        │   └── UnseenRecipientError           ... for a recipient never seen (UNKNOWN_AGENT)
        ├── BatchVerifyError                   a signature batch over its bounds (also ValueError)
        │   ├── BatchTooLargeError             ... more items than allowed
        │   ├── MessageTooLongError            ... one message too long
        │   └── BatchTooHeavyError             ... the messages together too large
        ├── NativeUnavailableError             the native verifier was asked for, not installed
        ├── CallerError                        a bridge secret file is unusable (also ValueError)
        └── BadCall                            an MCP call refused before any agent (ValueError)

Each class lives with the part that raises it (``settings``, ``policy``, ``keys``, ``logs``,
``server``, ``ws_protocol``, ``backend.base``, ``guards.batch_verify``, ``bridges.callers``,
``bridges.mcp.calls``); a frame's refusal is an :class:`~aiconexus.protocol.IoapError` built
by the protocol core, and ``IoapError.to_payload()`` is the ERROR the gateway answers with.
"""

from __future__ import annotations

from aiconexus.protocol import AIConexusError

__all__ = ["GatewayError"]


class GatewayError(AIConexusError):
    """Root of the exceptions the gateway defines (see the module for the tree)."""
