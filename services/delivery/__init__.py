"""Delivery of notices beyond Kafka (#44): the agencies' webhooks. Signing and the endpoint
rules are pure; ``webhook`` is the one module that talks HTTP."""
