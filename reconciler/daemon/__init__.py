"""The daemon (``reconciler run``): start-up and shutdown (``startup``), configuration,
durable state, scheduling loop (``runner``), HTTP endpoints (``server``: webhooks, health,
metrics, status) and trigger delivery."""
