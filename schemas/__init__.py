"""The releasewatch contract: one module per topic, pydantic v2 models as the source of truth.

Topic names, event types and key rules live here (``schemas.topics``), never as string
literals inside services. ``make schemas`` writes JSON Schema and AsyncAPI from these models.
"""
