"""Gradient flow of two-layer linear models (Tarmoun et al., ICML 2021), from the derived equations.

Modules: ``theory`` (sympy checks), ``scalar`` (the scalar flow and its closed forms), ``matrix``
(λ-balanced init, matrix flow, Riccati closed form), ``general`` (general imbalance Q: linearised rate
and its bounds), ``descent`` (finite-step GD and the imbalance recursion), ``study`` (the pipeline
interface) and ``bench`` (closed form against ODE timing).
Equations are cited as "derived, §2.x": the sections of docs/gradient_flow.md, which derives them
(only the paper's abstract is confirmed; the equations are the standard mathematics of the model).
"""
