"""What the tests and the benchmarks share: one poll helper (``poll``), one topic reader
(``topics``) and service workers started as production starts them (``workers``)."""
