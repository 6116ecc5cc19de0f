"""DirectPred (Tian, Chen, Ganguli, ICML 2021): non-contrastive SSL dynamics and a directly set predictor.

Modules: ``theory`` (sympy, Lemma 1 and Eqns 7-17), ``linear`` (float64 linear-network flows), ``predictor``
(DirectPred, Eqns 18-19, and the linear and two-layer predictors), ``byol`` (the BYOL/SimSiam training step),
``spectrum`` (eigen-alignment of F and W_p, Fig. 2), ``probe`` (linear evaluation), ``runs`` (the run
specs), ``simulations``, ``experiment``, ``study`` (the workflow interface), ``claims`` and ``bench``.
"""
