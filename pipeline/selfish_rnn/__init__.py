"""Selfish-RNN (Liu et al., ICML 2021): dynamic sparse LSTMs with cell-gate redistribution and SNT-ASGD.

Modules: :mod:`.runs` (the run table: one :class:`~.runs.SelfishRun` per method, optimiser and seed),
:mod:`.masking` (sparse masks, magnitude death, random/gradient growth, per-gate statistics),
:mod:`.schedule` (cosine death rate), :mod:`.snt_asgd` (sparse non-monotonically triggered ASGD),
:mod:`.corpus` (KJV/PTB/synthetic token streams), :mod:`.trainer` (the training loop of one run),
:mod:`.experiment` (one run from its spec), :mod:`.claims`, :mod:`.study` (the study interface).
"""
