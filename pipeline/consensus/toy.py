"""The ``quadratic`` run of the consensus study: E Ξ² of the quadratic toy on a ring, closed form against
simulation, for each number of gossip rounds per step (numerics in
:mod:`pipeline.decentralized.quadratic`).

The heterogeneity b is drawn from ``derive_seed(seed, "quadratic_b")`` and the noise of m gossip rounds from
``derive_seed(seed, "quadratic_noise", m)``, with ``seed`` the base seed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.consensus.runs import QuadraticRun
from pipeline.core.seeding import derive_seed
from pipeline.core.study import RunOutput
from pipeline.decentralized import quadratic
from pipeline.decentralized.topology import mixing_matrix, spectral_gap


def run(spec: QuadraticRun, seed: int) -> RunOutput:
    """Closed form and simulation of the stationary E Ξ² per gossip-round count; Ξ²_t curves as history."""
    W = mixing_matrix("ring", spec.n_workers)
    b = quadratic.draw_b(spec.n_workers, spec.zeta, np.random.default_rng(derive_seed(seed, "quadratic_b")))
    rows, records = [], []
    for rounds in spec.gossip_rounds:
        rng = np.random.default_rng(derive_seed(seed, "quadratic_noise", rounds))
        sim, stderr, curve = quadratic.simulate(
            W, b, spec.lr, spec.sigma, rounds, spec.steps, spec.burn_in, spec.chains, rng
        )
        closed = quadratic.closed_form(W, b, spec.lr, spec.sigma, rounds)
        expected = quadratic.closed_form_expected(W, spec.lr, spec.sigma, spec.zeta, rounds)
        records.append(
            {
                "gossip_rounds": rounds,
                "closed_form": closed,
                "closed_form_b_averaged": expected,
                "simulated": sim,
                "simulated_stderr": stderr,
                "rel_error": abs(sim - closed) / closed,
            }
        )
        stride = max(1, spec.steps // 400)
        rows.append(
            pd.DataFrame(
                {
                    "gossip_rounds": rounds,
                    "step": np.arange(spec.steps)[::stride] + 1,
                    "xi_sq": curve[::stride],
                }
            )
        )
    eta_half = quadratic.closed_form_expected(W, spec.lr / 2, spec.sigma, spec.zeta, 1)
    metrics = {
        "records": records,
        "spectral_gap": spectral_gap(W),
        "max_rel_error": max(r["rel_error"] for r in records),
        "halving_lr_factor": records[0]["closed_form_b_averaged"] / eta_half
        if records[0]["gossip_rounds"] == 1
        else math.nan,
    }
    return RunOutput(metrics, pd.concat(rows, ignore_index=True))
