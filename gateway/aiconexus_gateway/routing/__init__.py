"""Sessions and routing: from a registered connection's frame to its delivery or storage.

Owns the hub (this node's live sessions and the paths between them), one connection's life
from accept to close, the router's per-frame path, send queues and writers, recipient
acknowledgements and the in-flight window, the offline store's per-recipient order, frames
of unknown outcome, and the drain at shutdown. May import every lower layer:
:mod:`..guards`, :mod:`..observation`, :mod:`..backend`, :mod:`..transport`.
"""
