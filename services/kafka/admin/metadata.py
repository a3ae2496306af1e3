"""What the cluster says about topics, asked the same way on every broker."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The partitions of ``topic``, from a fresh Metadata request for every topic.

    ``partitions_for_topic`` answers only for topics the client already asked about: a
    group-less consumer with nothing assigned has asked Apache Kafka about none (Tansu
    answered with every topic), so it would see no partitions at all."""
    cluster = await consumer._client.fetch_all_metadata()
    return sorted(cluster.partitions_for_topic(topic) or ())
