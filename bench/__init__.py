"""Reproducible benchmarks (run ``python bench/engine.py --help``)."""
