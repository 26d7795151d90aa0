"""Benchmarks and load runs of the FER model and service (``make bench``, ``python -m bench.load``).

Everything writes into ``results/`` (``bench.json``, ``load.json``) and docs/benchmarks.md's
"## Results" section is generated from those files by :mod:`bench.report`.
"""
