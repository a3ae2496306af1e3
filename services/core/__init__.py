"""Pure and shared: local time, the policy model, the deadline index, the clock.

No faust, aiokafka, settings or logging setup here."""
