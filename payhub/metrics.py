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

# Latencies worth graphing (docs/operations.md, deploy/grafana/payhub-dashboard.json). A callback or a
# pass through the door takes milliseconds; a poll up to the gateway timeout; a sweep minutes.
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
CALLBACK_SECONDS = Histogram(
    "payhub_callback_seconds", "Handling a gateway callback, request to answer, by gateway and route (webhook, return)",
    ["gateway", "route"], buckets=FAST, registry=REGISTRY,
)
DOOR_SECONDS = Histogram(
    "payhub_door_seconds", "One update through the door: lock, record, decide, commit (not the push), by source",
    ["source"], buckets=FAST, registry=REGISTRY,
)
PUSH_SECONDS = Histogram(
    "payhub_push_seconds", "Publishing one change to its room and the operators (Socket.IO fan-out)",
    buckets=FAST, registry=REGISTRY,
)
POLL_SECONDS = Histogram(
    "payhub_poll_seconds", "A status poll: asking the gateway and applying its answer, by gateway and result",
    ["gateway", "result"], buckets=SLOW, registry=REGISTRY,
)
SWEEP_SECONDS = Histogram("payhub_sweep_seconds", "Duration of a sweep", buckets=SLOW, registry=REGISTRY)
SWEEP_BACKLOG = Gauge(
    "payhub_sweep_backlog", "Payments due for a poll now (pending ones, late-watch checks): what the sweep has to do",
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "payhub_notifications_total", "Merchant notification attempts, by outcome (delivered, failed, dead)",
    ["outcome"], registry=REGISTRY,
)
OUTBOX = Gauge(
    "payhub_notifications_queued", "Merchant notifications in the outbox, by state (pending, dead)",
    ["state"], registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "payhub_http_request_seconds", "HTTP requests, by route (Flask endpoint), method and status",
    ["endpoint", "method", "status"], buckets=FAST, registry=REGISTRY,
)
LONG_POLLS = Gauge("payhub_long_polls_held", "Status long polls this process holds right now", registry=REGISTRY)
RATE_LIMITED = Counter(
    "payhub_rate_limited_total", "Requests refused with 429, by entry point", ["entry"], registry=REGISTRY,
)
