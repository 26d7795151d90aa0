"""Benchmarks and load runs of the FER model and service (``make bench``, ``python -m bench.load``).

They only measure: their results files go to build/bench/results/ (git-ignored), or, recorded
(``BENCH_RECORD=1``, ``make bench RECORD=1``), to results/, and then docs/benchmarks.md's
"## Results" section is regenerated from ``results/bench.json`` and ``results/load.json`` by
:mod:`bench.report`, and the README's model table from the same run's model comparison by
:mod:`bench.default_model`. Nothing here writes ``model_store/``.
"""
