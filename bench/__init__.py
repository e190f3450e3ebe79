"""Tenure's benchmark harness: ``make bench`` / ``python -m bench``.

Every scenario is measured next to a baseline taken in the same run on the same machine
(pgbench for the database, a raw ASGI app on the same Granian settings for HTTP), and the
results are written to ``docs/performance.md``. Nothing here is imported by ``tenure``.
"""
