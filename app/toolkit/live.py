"""Journal subscriptions: each new entry is handed to the live views (``/_admin/ui``) as it is written.

Bounded both ways: at most ``MAX_SUBSCRIBERS`` at once, each with a queue of ``QUEUE_SIZE`` entries; a
subscriber that falls behind loses the entries past it and is told to reload (``overflowed``), so
a slow browser never holds memory or the request path.
"""

from __future__ import annotations

import asyncio
from typing import Any

MAX_SUBSCRIBERS = 16
QUEUE_SIZE = 256
CLEARED: dict[str, Any] = {"cleared": True}  # published when the journal was cleared


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False


class Live:
    """The subscribers of this process (a journal in Redis is written by every worker; each worker
    tells its own subscribers what it wrote)."""

    def __init__(self, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self.max_subscribers = max_subscribers
        self.subscribers: set[Subscription] = set()  # read by the journal: nobody watching, nothing to publish

    def subscribe(self) -> Subscription | None:
        """A new subscription, or None when there are ``max_subscribers`` already."""
        if len(self.subscribers) >= self.max_subscribers:
            return None
        subscription = Subscription()
        self.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)

    def publish(self, entry: dict[str, Any]) -> None:
        """Hand ``entry`` (the stored dict itself, not a copy) to every subscriber; never waits."""
        for subscription in self.subscribers:
            try:
                subscription.queue.put_nowait(entry)
            except asyncio.QueueFull:
                subscription.overflowed = True

    def cleared(self) -> None:
        self.publish(CLEARED)

    def __len__(self) -> int:
        return len(self.subscribers)
