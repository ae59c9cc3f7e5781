"""Benchmarks: one module per figure, `python -m bench.NAME [--quick]`; `make bench` runs them all.

Each measures its baseline side by side in the same run and prints one JSON object on its
last line (values, baseline, ratio, target, machine notes). What each measures and its target
are in docs/benchmarks.md; benchmarks measure, tests never assert timings.
- `analysis`, `upload`, `search`, `match`, `dispatch`, `grbl`, `gcode_check`: one figure each;
- `common`: the --quick flag, child-process runs with exact peak RSS, percentiles, the report;
- `simnodes`: many simulated node agents in one process, for `dispatch` and the multi-replica
  test.
"""
