"""Benchmarks: scripts run with ``make bench``, never collected by pytest (bench_*.py)."""
