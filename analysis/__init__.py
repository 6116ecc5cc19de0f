"""Plotting only: reads results through :class:`pipeline.results.Results`, writes figures. Never trains.

Each study has a module ``analysis/<study>.py`` with

``CAPTIONS: dict[str, str]``
    figure stem -> caption (what the figure shows, what to look for), in the order a reader should see
    them; a literal dict, read without importing the module by :mod:`analysis.catalog`;
``plot(results: Results, out: Path) -> None``
    read the study's runs through ``results`` (the runs its config asks for) and write ``out/<stem>.png``
    and ``out/<stem>.pdf`` for every stem in CAPTIONS, in the shared style (:mod:`analysis.style`).

``python -m analysis <study>`` draws one study's figures and writes captions.json beside them.
"""
