"""`make bench`: every benchmark; figures printed with their in-process baselines, results
in bench/results/*.json, plots in bench/results/*.png.

    .venv/bin/python -m bench [--quick]

--quick: smaller runs (20k events, 20 s of latency, 20,000 armed) to try the harness.
"""

import sys
import time

from bench import deadlines, firing, latency, pipeline, plots
from bench.harness import RESULTS, machine, save

if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    started = time.time()
    figures = {"machine": machine(), "quick": quick}
    figures["deadlines_in_process"] = deadlines.main()
    figures["pipeline"] = pipeline.main(20_000 if quick else 50_000)
    figures["latency"] = latency.main(500, 20 if quick else 60)
    figures["firing"] = firing.main(20_000 if quick else 200_000, 10_000)
    figures["seconds"] = time.time() - started
    path = save("bench", figures)
    pictures = [plots.throughput(figures["pipeline"]), plots.latency(figures["latency"])]
    print(f"results: {path}; plots: {', '.join(str(p) for p in pictures)} in {RESULTS}")
