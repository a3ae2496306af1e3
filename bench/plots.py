"""PNG plots of the benchmark results (matplotlib, headless)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.harness import RESULTS


def latency(result: dict[str, Any], path: Path = RESULTS / "latency.png") -> Path:
    samples = result["samples_ms"]
    figure, (histogram, ordered) = plt.subplots(1, 2, figsize=(11, 4))
    histogram.hist(samples, bins=40, color="#3b6ea5")
    for name, color in (("p50", "#2a9d8f"), ("p95", "#e9c46a"), ("p99", "#e76f51")):
        value = result["latency_ms"][name]
        histogram.axvline(value, color=color, linestyle="--", label=f"{name} {value:,.0f} ms")
    histogram.set_xlabel("publish of the request -> notice on notices.dhs-ice.v1 (ms)")
    histogram.set_ylabel("probes")
    histogram.legend()
    times = [t for t, _ in result["over_time"]]
    ordered.plot(times, [ms for _, ms in result["over_time"]], ".", color="#3b6ea5")
    ordered.set_xlabel("seconds since the first publish (probe sent)")
    ordered.set_ylabel("latency, ms")
    ordered.set_yscale("log")
    figure.suptitle(
        f"Notice latency at {result['achieved_per_second']:,.0f} events/s offered "
        f"({result['probes']} probes)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def latency_per_minute(
    result: dict[str, Any], path: Path = RESULTS / "latency-per-minute.png"
) -> Path:
    """p50/p95/p99 of each minute, the services against the bare relays of the same run."""
    figure, axis = plt.subplots(figsize=(9, 4))
    colors = {"p50": "#2a9d8f", "p95": "#e9c46a", "p99": "#e76f51"}
    series = (
        ("services", result["per_minute_ms"], "o-"),
        ("bare relays", result["baseline_ms"]["per_minute"], ":"),
    )
    for name, color in colors.items():
        for who, rows, style in series:
            minutes, values = [r["minute"] for r in rows], [r[name] for r in rows]
            axis.plot(minutes, values, style, color=color, label=f"{who} {name}")
    axis.axhline(100, color="black", linestyle="--", linewidth=0.8, label="goal: p99 100 ms")
    axis.set_xlabel("minute of the run")
    axis.set_ylabel("notice latency, ms")
    axis.set_yscale("log")
    axis.set_title(
        f"Notice latency per minute at {result['achieved_per_second']:,.0f} events/s offered"
    )
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def throughput(result: dict[str, Any], path: Path = RESULTS / "throughput.png") -> Path:
    series = result["end_to_end"]["series"]
    figure, axis = plt.subplots(figsize=(9, 4))
    for name in ("booking", "scheduling", "notification"):
        points = [(row["t"], row[name]) for row in series]
        rates = [
            (t1, (c1 - c0) / (t1 - t0))
            for (t0, c0), (t1, c1) in itertools.pairwise(points)
            if t1 > t0
        ]
        axis.plot([t for t, _ in rates], [r for _, r in rates], label=f"{name} inputs/s")
    axis.axhline(
        result["end_to_end"]["per_second"],
        color="black",
        linestyle="--",
        label=f"end to end {result['end_to_end']['per_second']:,.0f} events/s",
    )
    axis.set_xlabel("seconds since the first publish")
    axis.set_ylabel("messages/s (0.5 s samples)")
    axis.set_title(f"{result['events']:,} simulator events through the three services")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def scaling(result: dict[str, Any], path: Path = RESULTS / "scaling.png") -> Path:
    """End to end events/s against workers per service, one line per partition count, with
    each count's bare aiokafka loop (same run) dashed."""
    figure, axis = plt.subplots(figsize=(8, 4))
    colors = itertools.cycle(("#3b6ea5", "#e76f51", "#2a9d8f"))
    for parts in sorted({row["partitions"] for row in result["rows"]}):
        rows = sorted(
            (r for r in result["rows"] if r["partitions"] == parts),
            key=lambda r: r["workers_per_service"],
        )
        color = next(colors)
        workers = [r["workers_per_service"] for r in rows]
        axis.plot(
            workers, [r["per_second"] for r in rows], "o-", color=color, label=f"{parts} partitions"
        )
        axis.axhline(
            rows[0]["baseline_per_second"],
            color=color,
            linestyle=":",
            linewidth=0.8,
            label=f"{parts} partitions: bare aiokafka loop",
        )
    axis.set_xlabel("workers per service (all on the same 2 cores as the broker)")
    axis.set_ylabel("events/s end to end")
    axis.set_yscale("log")
    axis.set_xticks(sorted({r["workers_per_service"] for r in result["rows"]}))
    axis.set_title(f"Scaling: {result['events']:,} simulator events through the three services")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
