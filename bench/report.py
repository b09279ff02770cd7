"""Figures of one phase, the targets of issue 2, and the printed table."""

from __future__ import annotations

import math
from typing import Any

from load import PushLog, Sent

# Issue 11's targets (issue 2's were a ratio of 0.6 and p99 <= 25 ms with 200 subscribers).
TARGET_RATIO = 1.3
TARGET_P99_MS = 10.0  # push p99 at a steady 200/s with --wide-subscribers (1,000) connected
TARGET_MAX_MS = 50.0  # push max, same phase
TARGET_CREATES = 500  # creates/s per process
BUSY_PERCENT = 15  # CPU of other processes, in % of one core, above which a phase is called noisy
# Figures summed over rounds rather than taking the median: one lost push in any round counts.
SUMMED = {"lost", "errors", "duplicate_pushes", "unexpected_pushes"}


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


def create_figures(count: int, seconds: float, rtts: list[float], server: Any, driver: Any,
                   machine: Any) -> dict[str, Any]:
    return {
        "creates": count, "seconds": round(seconds, 3), "creates_per_s": round(count / seconds, 1),
        "server_cpu_ms_each": round(1000 * server.cpu_percent / 100 * seconds / count, 2),
        "rtt_ms": {f"p{p}": percentile(rtts, p) for p in (50, 99)} | {"max": percentile(rtts, 100)},
        "server_cpu_percent": round(server.cpu_percent), "driver_cpu_percent": round(driver.cpu_percent),
        "others_cpu_percent": max(round(machine.cpu_percent - server.cpu_percent - driver.cpu_percent), 0),
    }


def median_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several rounds: the median of each figure (the lower middle for an even
    count, so it is always a value some round measured); losses and errors summed."""
    if len(rounds) == 1:
        return rounds[0]
    out: dict[str, Any] = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds if key in r]
        if key in SUMMED:
            out[key] = _summed(values)
        elif isinstance(values[0], dict):
            out[key] = median_rounds(values)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values if v is not None):
            present = sorted(v for v in values if v is not None)
            out[key] = present[(len(present) - 1) // 2] if present else None
        else:
            out[key] = values[-1]
    return out


def _summed(values: list[Any]) -> Any:
    if isinstance(values[0], dict):
        total: dict[str, int] = {}
        for counts in values:
            for name, count in counts.items():
                total[name] = total.get(name, 0) + count
        return total
    return sum(values)


def verdicts(results: dict[str, Any], idle: dict[str, Any] | None) -> dict[str, Any]:
    hub, base = results.get("hub"), results.get("baseline")
    out: dict[str, Any] = {}
    phases = ("saturation", "steady", "steady_wide")
    if hub:
        lost = sum(hub[m]["lost"] + sum(hub[m]["errors"].values()) for m in phases if m in hub)
        out["zero_lost"] = {"value": lost, "pass": lost == 0}
        if "steady_wide" in hub:
            p99, worst = hub["steady_wide"]["push_ms"]["p99"], hub["steady_wide"]["push_ms"]["max"]
            out["wide_p99_ms"] = {"value": p99, "pass": p99 is not None and p99 <= TARGET_P99_MS}
            out["wide_max_ms"] = {"value": worst, "pass": worst is not None and worst <= TARGET_MAX_MS}
        if "create" in hub:
            rate = hub["create"]["creates_per_s"]
            out["creates_per_s"] = {"value": rate, "pass": rate >= TARGET_CREATES}
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
    ("server CPU ms per callback", lambda r: round(10 * r["server_cpu_percent"] / r["callbacks_per_s"], 2)
     if r["callbacks_per_s"] else None),
    ("GCs gen 0/1/2; full <= s", lambda r: f"{'/'.join(map(str, r['gc']['collections']))}; "
                                           f"{r['gc']['full_max_s_at_most']}" if r.get("gc") else "-"),
    ("server RSS peak MB", lambda r: r["server_rss_peak_mb"]),
    ("CPU % server/driver/others", lambda r: f"{r['server_cpu_percent']} / {r['driver_cpu_percent']} / "
                                            f"{r['others_cpu_percent']}"),
]


def table(args: Any, results: dict[str, Any], idle: dict[str, Any] | None, checks: dict[str, Any]) -> str:
    names = list(results)
    lines = [f"PayHub benchmark: {args.subscribers} subscribers, {args.callbacks:,} callbacks at concurrency "
             f"{args.concurrency}; steady {args.rate:g}/s for {args.steady_seconds:g} s with {args.subscribers} "
             f"and with {args.wide_subscribers} subscribers; medians of {args.rounds} round(s)"]
    titles = {"saturation": "saturation", "steady": f"steady, {args.subscribers} subscribers",
              "steady_wide": f"steady, {args.wide_subscribers} subscribers"}
    for mode, title in titles.items():
        if not any(mode in results[n] for n in names):
            continue
        lines += ["", f"{title:<28}" + "".join(f"  {n:>34}" for n in names)]
        for label, get in ROWS:
            cells = [_fmt(get(results[n][mode])) if mode in results[n] else "-" for n in names]
            lines.append(f"  {label:<26}" + "".join(f"  {c:>34}" for c in cells))
    create = results.get("hub", {}).get("create")
    if create:
        lines += ["", f"create (hub, {args.create_concurrency} in flight): {create['creates_per_s']:,}/s over "
                  f"{create['creates']:,}; answer p50/p99/max {_fmt(create['rtt_ms'])} ms; server CPU "
                  f"{create['server_cpu_ms_each']} ms each; CPU % server/driver/"
                  f"others {create['server_cpu_percent']} / {create['driver_cpu_percent']} / "
                  f"{create['others_cpu_percent']}"]
    if idle:
        lines += ["", *_idle_lines(idle)]
    wide = f"at {args.rate:g}/s, {args.wide_subscribers} subscribers"
    labels = {"zero_lost": "hub lost events + errors = 0",
              "wide_p99_ms": f"hub push p99 <= {TARGET_P99_MS} ms {wide}",
              "wide_max_ms": f"hub push max <= {TARGET_MAX_MS} ms {wide}",
              "creates_per_s": f"hub creates/s >= {TARGET_CREATES}",
              "throughput_ratio": f"hub/baseline throughput >= {TARGET_RATIO}",
              "idle_held": "idle connections held"}
    busy = [f"{n} {m}" for n in names for m in ("create", *titles)
            if m in results[n] and results[n][m]["others_cpu_percent"] > BUSY_PERCENT]
    if busy:
        lines += ["", f"  NOTE  other processes used > {BUSY_PERCENT}% of a core during: {', '.join(busy)}; "
                  "those figures are noisy, run again on a quiet machine"]
    if checks:
        lines.append("")
        lines += [f"  {'PASS' if c['pass'] else 'MISS'}  {labels[k]}: {c['value']}" for k, c in checks.items()]
    return "\n".join(lines)
