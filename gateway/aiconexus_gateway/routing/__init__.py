"""Sessions and routing: from a registered connection's frame to its delivery or storage.

Owns the hub (this node's live sessions and the paths between them), one connection's life
from accept to close, the router's per-frame path, send queues and writers, recipient
acknowledgements and the in-flight window, the offline store's per-recipient order, frames
of unknown outcome, and the drain at shutdown. May import every lower layer:
:mod:`..guards`, :mod:`..observation`, :mod:`..backend`, :mod:`..transport`.

Who decides what: :mod:`.parts` (built once by the app: settings, metrics, guards, keys,
limits) is handed to the hub, the router and the connection handler; :mod:`.delivery`
decides when a frame is delivered and returns a verdict; the hub acts on it
(:meth:`.hub.Hub.delivered`) and is the only one to change its sessions; :mod:`.replies`
answers senders (coalesced ACKs, ERRORs).

The walk of one EXEC_REQUEST from A to B, B with recipient acknowledgements (module: step):

1. A's reader: ``connection`` reads the frame, ``router`` checks it (``node_state``
   draining?, ``guards`` rate, signature, payload, ``backend`` replay check), makes an
   ``outgoing.Outgoing`` and calls ``hub.deliver`` (hub, 1st entry): ``lanes`` order, then
   ``session.enqueue`` into its ``send_queue`` (which starts B's writer if B was idle).
2. B's writer (a task, ended once nothing is left to write): ``session`` takes a batch from
   ``send_queue`` that ``delivery`` has window room for, moves it into the window
   (``delivery.sending``) and writes it (``transport``).
3. B's reader: ``connection``, ``router`` checks B's ACK (signature, freshness,
   ``delivery.recipient_ack_ids``); ``delivery.acknowledged`` returns the verdict (and
   wakes B's writer); ``hub.delivered`` (hub, 2nd entry) counts it, settles held store
   frames, tells ``backend`` it was handed on and ``replies.acknowledge`` A.
4. Next loop turn: ``replies`` signs the coalesced ACK (``frames``, ``guards`` crypto) and
   queues it to A's ``session``; A's writer writes it (not delivered: nothing to decide).

The hub is entered twice (it was entered six times, with two callbacks back into it from
the writer and a lambda from the window); "delivered" is decided in ``delivery`` alone. The
walk makes about 28 moves between modules (26 before) across 14 modules (11 before): the
queue, the verdict, the replies and the node's state now have modules of their own, and
every move goes forward, none back into the hub. The three asynchronous hand-offs (B's
writer, the ACK flush, A's writer) are unchanged.
"""
