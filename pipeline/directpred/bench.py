"""Benchmark: the DirectPred training step against the SGD linear-predictor step (Eqns 18-19).

Both are one full BYOL iteration (two views, online and target forward, backward, SGD, EMA) at the default
scale's sizes (read from the schema: 28×28 one-channel images, SmallCNN 8-16-32, batch 32, 64-d
projections); DirectPred adds
the F̂ update (always on, it feeds the eigen-tracking of both) and an ``eigh`` of the 64×64 F̂ per step.
The images are a fixed random tensor, so no dataset is needed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pipeline.core.bench import Benchmark
from pipeline.core.config import section
from pipeline.directpred.byol import SSLNet, SSLStep
from pipeline.directpred.experiment import augmentation, make_encoder, ssl_config
from pipeline.directpred.runs import ssl_settings

_SSL = ssl_settings(section("directpred"), "fashion_mnist")  # the schema's defaults (no per_dataset)


def _stepper(variant: str) -> Callable[[], object]:
    torch.manual_seed(0)
    cfg = ssl_config(_SSL, "byol", variant)
    size = _SSL.image_size
    images = torch.randint(0, 256, (_SSL.batch_size, 1, size, size), dtype=torch.uint8)

    def make_net() -> SSLNet:
        encoder, dim = make_encoder(_SSL, 1)
        return SSLNet(encoder, dim, cfg.proj_hidden, cfg.proj_dim)

    step = SSLStep(cfg, make_net, augmentation(_SSL), seed=0, device="cpu")
    counter = iter(range(10**9))
    return lambda: step(next(counter), (images,))


BENCHMARKS = [
    Benchmark(
        name="directpred_step_vs_linear_step",
        study="directpred",
        what="one BYOL step at default scale: DirectPred (freq 1, eigh of F̂) / SGD linear predictor",
        numerator=_stepper("directpred"),
        denominator=_stepper("linear"),
        goal=1.10,
        goal_is="at most",
        repeats=9,
    ),
]
