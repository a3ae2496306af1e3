"""`make bench`: every benchmark; figures printed with their in-process baselines, results
in bench/results/*.json (each as soon as it is measured), plots in bench/results/*.png.

    .venv/bin/python -m bench [--quick]

It includes the scaling curve: end to end with 1, 2 and 4 workers per service, on 8 and 32
partitions (``scaling.json``, ``scaling.png``).

--quick: smaller runs (20k events, 5k for the scaling curve, 60 s of latency, 20,000 armed,
20,000 open) to try the harness. The latency run is 10 minutes at 1,000 events/s (and as
long again for its baseline).
"""

import sys
import time

from bench import (
    batched,
    burst,
    codec,
    deadlines,
    firing,
    floor,
    intake,
    latency,
    national,
    pipeline,
    placement,
    plots,
    sealing,
    webhooks,
    year,
)
from bench.harness import machine, save

if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    started = time.time()

    def context() -> dict[str, object]:
        """Asked after each benchmark: the machine, and the broker it ran on."""
        return {"machine": machine(), "quick": quick, "measured_at": started}

    save("codec", {**context(), **codec.main()})
    save("floor", {**context(), **floor.main(20_000 if quick else 50_000)})
    save("batched", {**context(), **batched.main(20_000 if quick else 50_000)})
    save("deadlines", {**context(), **deadlines.main()})
    save("placement", {**context(), **placement.main(5_000 if quick else 20_000)})
    save("webhooks", {**context(), **webhooks.main(500 if quick else 2_000)})
    save("intake", {**context(), **intake.main(500 if quick else 3_000)})
    save("burst", {**context(), **burst.main(*((1_000,) if quick else (1_000, 10_000)))})
    throughput = pipeline.main(20_000 if quick else 50_000)
    save("pipeline", {**context(), **throughput})
    print(f"  plot: {plots.throughput(throughput)}")
    save("sealing", {**context(), **sealing.main(20_000)})
    curve = pipeline.scaling_main(5_000 if quick else 20_000)
    save("scaling", {**context(), **curve})
    print(f"  plot: {plots.scaling(curve)}")
    notices = latency.main(1000, 60 if quick else 600)
    save("latency", {**context(), **notices})
    print(f"  plot: {plots.latency(notices)}")
    print(f"  plot: {plots.latency_per_minute(notices)}")
    save("firing", {**context(), **firing.main(20_000 if quick else 200_000, 10_000)})
    save("firing_batching", {**context(), **firing.batching(20_000 if quick else 30_000)})
    scale = (20_000, 5_000, 2_000) if quick else (700_000, 50_000, 10_000)
    save("national", {**context(), **national.main(*scale)})
    save("year", {**context(), **year.main(1_000, 70 if quick else 365)})
    print(f"bench: done in {(time.time() - started) / 60:.0f} min; results in bench/results/")
