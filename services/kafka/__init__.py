"""Brokers and everything releasewatch needs to know about them."""
