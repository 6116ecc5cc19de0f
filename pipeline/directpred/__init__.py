"""DirectPred (Tian, Chen, Ganguli, ICML 2021): non-contrastive SSL dynamics and a directly set predictor.

Modules: ``theory`` (sympy, directpred.md §2.1-2.2), ``linear`` (float64 linear-network flows), ``predictor``
(DirectPred, linear and two-layer predictors, §2.3), ``byol`` (the BYOL/SimSiam training step, §2.4),
``spectrum`` (eigen-alignment of F and W_p, Fig. 2), ``probe`` (linear evaluation), ``runs`` (the run
specs), ``simulations``, ``experiment``, ``study`` (the workflow interface), ``claims`` and ``bench``.
"""
