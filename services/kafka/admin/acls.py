"""The grants of ``services.access`` as Kafka ACLs on a plain cluster (``releasewatch acls
apply``): one ``CreateAcls`` request per binding, through aiokafka's protocol classes (its
admin client has no ACL calls). Creating a binding that exists changes nothing, so applying
again is safe. ``DescribeAcls`` reads them back (``releasewatch acls list``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest, DescribeAclsRequest

from services.access import Pattern, Principal, Resource
from services.kafka.client.security import Kafka, as_client

# Kafka's codes (org.apache.kafka.common.resource / acl).
RESOURCE_TYPES = {
    Resource.TOPIC: 2,
    Resource.GROUP: 3,
    Resource.CLUSTER: 4,
    Resource.TRANSACTIONAL_ID: 5,
}
PATTERN_TYPES = {Pattern.LITERAL: 3, Pattern.PREFIX: 4}
OPERATIONS = {
    "Read": 3,
    "Write": 4,
    "Create": 5,
    "Delete": 6,
    "Alter": 7,
    "Describe": 8,
    "DescribeConfigs": 10,
    "AlterConfigs": 11,
    "IdempotentWrite": 12,
}
ANY, MATCH, ALLOW = 1, 2, 3
RESOURCE_NAMES = {code: resource for resource, code in RESOURCE_TYPES.items()}
PATTERN_NAMES = {code: pattern for pattern, code in PATTERN_TYPES.items()}
OPERATION_NAMES = {code: name for name, code in OPERATIONS.items()}


class AclError(RuntimeError):
    """The cluster refused an ACL (no authorizer, or this login may not alter ACLs)."""


@dataclass(frozen=True, order=True)
class Binding:
    principal: str  # "User:<name>"
    resource: Resource
    name: str
    pattern: Pattern
    operation: str

    def __str__(self) -> str:
        return (
            f"{self.principal} {self.operation} {self.resource.value}:{self.name}"
            f"{'*' if self.pattern is Pattern.PREFIX else ''}"
        )


def bindings(principals: Iterable[Principal]) -> list[Binding]:
    """Every (principal, resource, operation) allowed, one binding each."""
    return sorted(
        {
            Binding(f"User:{p.name}", g.resource, g.name, g.pattern, operation.value)
            for p in principals
            for g in p.grants
            for operation in g.operations
        }
    )


async def apply(kafka: Kafka, principals: Iterable[Principal]) -> list[Binding]:
    """Create every binding of ``principals``; return them. Raises ``AclError`` with the
    broker's reason at the first refusal."""
    wanted = bindings(principals)
    admin = AIOKafkaAdminClient(**as_client(kafka), request_timeout_ms=10_000)
    await admin.start()
    try:
        for binding in wanted:
            request = CreateAclsRequest(
                RESOURCE_TYPES[binding.resource],
                binding.name,
                PATTERN_TYPES[binding.pattern],
                binding.principal,
                "*",
                OPERATIONS[binding.operation],
                ALLOW,
            )
            response = await admin._send_request(request)
            for code, message in response.creation_responses:
                if code:
                    raise AclError(f"{binding}: {for_code(code).__name__}: {message or ''}")
    finally:
        await admin.close()
    return wanted


async def listed(kafka: Kafka) -> list[Binding]:
    """Every ALLOW binding on the cluster, as ``bindings`` names them."""
    admin = AIOKafkaAdminClient(**as_client(kafka), request_timeout_ms=10_000)
    await admin.start()
    try:
        request = DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ALLOW)
        response = await admin._send_request(request)
    finally:
        await admin.close()
    if response.error_code:
        raise AclError(f"{for_code(response.error_code).__name__}: {response.error_message}")
    found = []
    for resource_type, name, pattern_type, acls in response.resources:
        for principal, _host, operation, _permission in acls:
            if resource_type in RESOURCE_NAMES and pattern_type in PATTERN_NAMES:
                found.append(
                    Binding(
                        principal,
                        RESOURCE_NAMES[resource_type],
                        name,
                        PATTERN_NAMES[pattern_type],
                        OPERATION_NAMES.get(operation, str(operation)),
                    )
                )
    return sorted(found)
