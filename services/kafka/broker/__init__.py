"""The brokers releasewatch runs itself: the embedded Apache Kafka (one node or three,
supervised), Tansu as its fallback, the toolchain they need, secured listeners."""
