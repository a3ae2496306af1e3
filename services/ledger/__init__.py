"""The ledger's seals (#46): the sealer service that signs ``notice.audit.v1`` as it stands,
its keys, and the reading ``releasewatch report --verify`` does."""
