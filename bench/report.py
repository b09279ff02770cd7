"""Figures of one phase, the targets of issue 2, and the printed table."""

from __future__ import annotations

import math
from typing import Any

from load import PushLog, Sent

TARGET_RATIO = 0.6
TARGET_P99_MS = 25.0
BUSY_PERCENT = 15  # CPU of other processes, in % of one core, above which a phase is called noisy


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    return round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)], 2)


def phase(sent: Sent, log: PushLog, ids: list[str], server: Any, driver: Any, machine: Any,
          waited: float) -> dict[str, Any]:
    latencies = log.latencies_ms(ids)
    rtts = sorted(sent.rtts_ms)
    seconds = sent.finished - sent.started
    return {
        "callbacks": len(ids), "ok": len(sent.ok_ids), "errors": sent.failed, "seconds": round(seconds, 3),
        "callbacks_per_s": round(len(sent.ok_ids) / seconds, 1) if seconds > 0 else None,
        "pushes_received": len(latencies), "lost": len(set(sent.ok_ids) - set(log.received)),
        "push_ms": {f"p{p}": percentile(latencies, p) for p in (50, 95, 99)} | {"max": percentile(latencies, 100)},
        "callback_rtt_ms": {f"p{p}": percentile(rtts, p) for p in (50, 99)},
        "waited_for_stragglers_s": round(waited, 2),
        "server_rss_peak_mb": round(server.peak_rss / 2**20, 1), "server_cpu_percent": round(server.cpu_percent),
        "driver_cpu_percent": round(driver.cpu_percent),
        "others_cpu_percent": max(round(machine.cpu_percent - server.cpu_percent - driver.cpu_percent), 0),
    }


def verdicts(results: dict[str, Any], idle: dict[str, Any] | None) -> dict[str, Any]:
    hub, base = results.get("hub"), results.get("baseline")
    out: dict[str, Any] = {}
    if hub:
        lost = sum(hub[m]["lost"] + sum(hub[m]["errors"].values()) for m in ("saturation", "steady") if m in hub)
        out["zero_lost"] = {"value": lost, "pass": lost == 0}
        if "steady" in hub:
            p99 = hub["steady"]["push_ms"]["p99"]
            out["steady_p99_ms"] = {"value": p99, "pass": p99 is not None and p99 <= TARGET_P99_MS}
    if hub and base and "saturation" in hub and "saturation" in base:
        ratio = round(hub["saturation"]["callbacks_per_s"] / base["saturation"]["callbacks_per_s"], 3)
        out["throughput_ratio"] = {"value": ratio, "pass": ratio >= TARGET_RATIO}
    if idle:
        held = min(idle["still_open"], idle["answering_round_trip"])
        ok = held == idle["connections"] and idle["sample_pushes_received"] == idle["sample_pushes"]
        out["idle_held"] = {"value": held, "pass": ok}
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " / ".join(_fmt(v) for v in value.values())
    return f"{value:,}" if isinstance(value, int) else str(value)


def _idle_lines(idle: dict[str, Any]) -> list[str]:
    cpu = idle["connect_cpu_ms"]
    return [
        f"idle: {idle['connections']:,} websocket subscribers on one hub process",
        f"  connected + subscribed in {idle['connect_seconds']} s ({idle['connects_per_s']}/s), "
        f"errors {idle['connect_errors'] or 0}; CPU ms each: hub {cpu['server']}, driver {cpu['driver']}",
        f"  after {idle['held_seconds']:g} s: {idle['still_open']:,} open, {idle['answering_round_trip']:,} "
        f"answer a round trip; sample pushes {idle['sample_pushes_received']}/{idle['sample_pushes']} "
        f"(one at a time: p50 {idle['sample_push_ms']['p50']} ms, max {idle['sample_push_ms']['max']} ms)",
        f"  hub RSS {idle['rss_before_mb']} MB -> {idle['rss_connected_mb']} MB connected "
        f"({idle['kb_per_connection']} KB each), peak {idle['rss_peak_mb']} MB",
    ]


ROWS = [
    ("callbacks/s", lambda r: r["callbacks_per_s"]),
    ("push p50/p95/p99/max ms", lambda r: r["push_ms"]),
    ("callback rtt p50/p99 ms", lambda r: r["callback_rtt_ms"]),
    ("pushes received / sent", lambda r: f"{r['pushes_received']:,} / {r['callbacks']:,}"),
    ("lost / callback errors", lambda r: f"{r['lost']} / {sum(r['errors'].values())}"),
    ("server RSS peak MB", lambda r: r["server_rss_peak_mb"]),
    ("CPU % server/driver/others", lambda r: f"{r['server_cpu_percent']} / {r['driver_cpu_percent']} / "
                                            f"{r['others_cpu_percent']}"),
]


def table(args: Any, results: dict[str, Any], idle: dict[str, Any] | None, checks: dict[str, Any]) -> str:
    names = list(results)
    lines = [f"PayHub benchmark: {args.subscribers} subscribers, {args.callbacks:,} callbacks at concurrency "
             f"{args.concurrency}; steady {args.rate:g}/s for {args.steady_seconds:g} s"]
    for mode in ("saturation", "steady"):
        if not any(mode in results[n] for n in names):
            continue
        lines += ["", f"{mode:<28}" + "".join(f"  {n:>34}" for n in names)]
        for label, get in ROWS:
            cells = [_fmt(get(results[n][mode])) if mode in results[n] else "-" for n in names]
            lines.append(f"  {label:<26}" + "".join(f"  {c:>34}" for c in cells))
    if idle:
        lines += ["", *_idle_lines(idle)]
    labels = {"zero_lost": "hub lost events + errors = 0",
              "steady_p99_ms": f"hub steady push p99 <= {TARGET_P99_MS} ms",
              "throughput_ratio": f"hub/baseline throughput >= {TARGET_RATIO}",
              "idle_held": "idle connections held"}
    busy = [f"{n} {m}" for n in names for m in ("saturation", "steady")
            if m in results[n] and results[n][m]["others_cpu_percent"] > BUSY_PERCENT]
    if busy:
        lines += ["", f"  NOTE  other processes used > {BUSY_PERCENT}% of a core during: {', '.join(busy)}; "
                  "those figures are noisy, run again on a quiet machine"]
    if checks:
        lines.append("")
        lines += [f"  {'PASS' if c['pass'] else 'MISS'}  {labels[k]}: {c['value']}" for k, c in checks.items()]
    return "\n".join(lines)
