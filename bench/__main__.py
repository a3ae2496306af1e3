"""`make bench`: every benchmark, figures printed with their in-process baselines."""

import asyncio

from bench import deadlines, pipeline

if __name__ == "__main__":
    deadlines.main()
    asyncio.run(pipeline.main(20_000))
