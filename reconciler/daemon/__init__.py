"""The daemon (``reconciler run``): start-up and shutdown (``startup``), configuration,
durable state, scheduling loop (``runner``) and what it does after a failed pass
(``faults``), HTTP endpoints (``server``: webhooks, health, metrics, status) and trigger
delivery."""
