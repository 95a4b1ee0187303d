"""The report of an experiment's (or a study's) finished runs: status, aggregates, per-game results, comparison
with a baseline variant and the published baselines, plots; it reads the MLflow store and trains nothing.

Modules, in the order the data flows: collect.py (the store into plain data), statistics.py (every number, once,
over ablate.scoring), tables.py and plots.py (the tables as data, the figures as PNG), render.py (terminal,
Markdown, HTML, LaTeX, CSV), build.py (the flow: checks, files, and the MLflow run `report`).
"""
