"""Quasi-Global Momentum (Lin et al., ICML 2021) on Dirichlet non-IID data over a ring; see docs/qgm.md."""
