"""Nero (Liu, Bernstein, Meister, Yue, ICML 2021, "Learning by Turning"): the optimiser, its baselines,
the learning-rate sweeps on three tasks, the constraint ablation and optimiser-state memory (docs/nero.md)."""
