"""The faust service skeleton: input admission and ordering, outputs, dead letters, records."""
