"""Delivery of notices beyond Kafka (#44): agencies' webhooks (``webhook``) and email
(``mail``). Signing, the address rules, the rate and the mail's rendering are pure; ``webhook``
and ``mail`` are the two modules that talk to the network. When to try and when to stop is
the notification domain's (``services.notification.delivery``)."""
