"""`make bench`: every benchmark, figures printed with their in-process baselines."""

from bench import deadlines

if __name__ == "__main__":
    deadlines.main()
