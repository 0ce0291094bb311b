"""The one exception a policy server's failure raises on the client side, in a module with no third-party imports:
the trial runner catches it without needing the `serve` extra that the clients themselves need."""

from __future__ import annotations


class PolicyServerError(RuntimeError):
    """The policy server failed this request: unreachable, closed, too slow, or an answer that is not a reply."""
