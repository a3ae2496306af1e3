"""The cluster's shape: topics (created, checked), ACLs and Strimzi resources."""
