"""The daemon (``reconciler run``): configuration, durable state, scheduling loop,
HTTP endpoints (webhooks, health, metrics, status) and trigger delivery."""
