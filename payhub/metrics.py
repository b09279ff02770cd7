"""Prometheus metrics of this process (GET /metrics)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # *_created series only add noise to a scrape

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "payhub_updates_total", "Updates that went through the one door, by source and result",
    ["source", "result"], registry=REGISTRY,
)
CALLBACKS = Counter(
    "payhub_callbacks_total", "Gateway callbacks received, by gateway and answer",
    ["gateway", "result"], registry=REGISTRY,
)
PUSHES = Counter("payhub_pushes_total", "payment_status events published", registry=REGISTRY)
SUBSCRIPTIONS = Counter(
    "payhub_subscriptions_total", "Socket.IO subscribe requests, by result", ["result"], registry=REGISTRY,
)
CONNECTED = Gauge("payhub_socket_clients", "Socket.IO clients connected to this process", registry=REGISTRY)
SWEEPS = Counter("payhub_sweeps_total", "Scheduler sweeps run", registry=REGISTRY)
POLLS = Counter(
    "payhub_polls_total", "Gateway status polls, by gateway and result", ["gateway", "result"], registry=REGISTRY,
)
GATEWAY_CALLS = Histogram(
    "payhub_gateway_call_seconds", "Time spent in gateway API calls", ["gateway", "call"], registry=REGISTRY,
)
PAYMENTS = Gauge("payhub_payments", "Payments in the database, by status", ["status"], registry=REGISTRY)
