"""The access policy in force: one decision method for the router, reload on SIGHUP.

:class:`AccessPolicy` holds the compiled :class:`~.policy.Policy` of ``POLICY_FILE``. The
router and the handshake ask :meth:`AccessPolicy.refusal` about each frame (and each
REGISTER); a refusal is counted by rule name (the ERROR it answers is logged with the other
refusals, at a bounded rate: :mod:`.refusals`). A
SIGHUP reloads the file: sessions stay, later frames meet the new rules; a file that no
longer compiles leaves the previous policy in force and logs an error naming the line.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from .policy_file import Policy, PolicyError, load_policy

__all__ = ["AccessPolicy", "install_reload_on_hangup"]

logger = logging.getLogger("aiconexus.gateway")


class AccessPolicy:
    """The rules of ``path`` (PolicyError if they do not compile); refusals go to ``refused``."""

    def __init__(self, path: Path, refused: Counter[str]) -> None:
        self.path = path
        self.policy: Policy = load_policy(path)
        self._refused = refused

    def refusal(
        self, sender: str, recipient: str, capabilities: Iterable[str], kind: str
    ) -> str | None:
        """None if the frame may pass; else the refusing rule's name (counted)."""
        rule = self.policy.decide(sender, recipient, capabilities, kind)
        if rule is not None:
            self._refused[rule] += 1
        return rule

    def reload(self) -> bool:
        """Read the file again; on an error keep the rules in force. True if reloaded."""
        try:
            policy = load_policy(self.path)
        except PolicyError as exc:
            logger.error("policy reload failed, the previous policy stays in force: %s", exc)
            return False
        self.policy = policy
        default = "allow" if policy.default_allow else "deny"
        logger.info(
            "policy reloaded from %s: %d rules, default %s", self.path, len(policy.rules), default
        )
        return True


def install_reload_on_hangup(policy: AccessPolicy | None) -> Callable[[], None]:
    """Reload ``policy`` on SIGHUP (in this process's running loop); returns the undo.

    Without a policy a SIGHUP is logged and ignored (it no longer stops the process). Where
    the loop cannot take signal handlers (not the main thread), nothing is installed.
    """
    loop = asyncio.get_running_loop()

    def on_hangup() -> None:
        if policy is None:
            logger.info("SIGHUP: no POLICY_FILE is set, nothing to reload")
        else:
            policy.reload()

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
        return lambda: None
    if policy is not None:
        rules = policy.policy
        logger.info(
            "access policy from %s: %d rules, default %s; SIGHUP reloads it",
            policy.path,
            len(rules.rules),
            "allow" if rules.default_allow else "deny",
        )

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return remove
