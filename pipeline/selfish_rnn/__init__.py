"""Selfish-RNN (Liu et al., ICML 2021): dynamic sparse LSTMs with cell-gate redistribution and SNT-ASGD.

Modules: :mod:`.masking` (sparse masks, magnitude death, random/gradient growth, per-gate statistics),
:mod:`.schedule` (cosine death rate), :mod:`.snt_asgd` (sparse non-monotonically triggered ASGD),
:mod:`.corpus` (KJV/PTB/synthetic token streams), :mod:`.trainer` (one training run), :mod:`.study`.
"""
