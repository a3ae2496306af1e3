"""No creating a topic that exists where the login may not create topics (``create_unless_exists``).

Defect: faust declares its topics at start and skips one its client's metadata already names;
that metadata holds only topics the client asked about, so faust sends CreateTopics for
topics that exist, and a least-privilege login (no Create) is refused and the worker stops.
The whole cluster's metadata (every topic the login may see) is asked first.
No upstream issue found. Reproducer: ``tests/integration/test_security.py`` (services with
their ACLs only). Applies to: faust-streaming 0.15.x, any broker with ACLs.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

NAME = "create_unless_exists"

_faust_create_topic = faust_aiokafka.Transport._really_create_topic


async def _create_unless_it_exists(
    self: Any, owner: Any, client: Any, topic: str, *args: Any, **kwargs: Any
) -> None:
    """faust's topic creation, skipped for a topic the cluster already has."""
    if not kwargs.get("ensure_created") and topic not in client.cluster.topics():
        try:
            cluster = await client.fetch_all_metadata()
        except Exception:  # faust's own path reports what is wrong
            cluster = None
        if cluster is not None and topic in cluster.topics():
            return
    await _faust_create_topic(self, owner, client, topic, *args, **kwargs)


def apply() -> None:
    faust_aiokafka.Transport._really_create_topic = _create_unless_it_exists  # type: ignore[method-assign]
