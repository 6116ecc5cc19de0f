"""Plotting only: reads results/, writes figures/ (DESIGN.md "analysis/"). Never trains.

Each study has a module ``analysis/<study>.py`` with

``CAPTIONS: dict[str, str]``
    figure stem -> caption (what the figure shows, what to look for);
``plot(results: Path, out: Path, runs: Sequence[str] | None = None) -> None``
    read results/<study>/ (only the run ids ``runs`` when given: :func:`analysis.runs.run_dirs`) and write
    ``out/<stem>.png`` and ``out/<stem>.pdf`` for every stem in CAPTIONS (use :func:`analysis.style.save`).

``python -m analysis <study>`` draws one study's figures and writes captions.json beside them.
"""
