"""Benchmarks: one module per figure, `python -m bench.NAME [--quick]`.

Each measures its baseline side by side in the same run and prints one JSON object on its
last line (values, baseline, ratio, machine notes). Targets are in ../shared/TARGETS.md;
benchmarks measure, tests never assert timings.
"""
