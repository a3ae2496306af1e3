"""What operators see: logging, metrics, garbage-collector pauses."""
