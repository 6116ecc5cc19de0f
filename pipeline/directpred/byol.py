"""BYOL / SimSiam training step with a linear, two-layer or DirectPred predictor (docs/directpred.md).

One call of :class:`SSLStep` is one iteration in the official code's order: (1) two augmented views
through the online network, F̂ updated with both views' projections (detached, not centred); (2) the
symmetric loss −2cos summed over both directions (written as 2 − 2cos, which has the same gradient);
(3) one SGD step for encoder, projector and predictor (the predictor at ``pred_lr_ratio`` = α_p times the
learning rate, Fig. 6); (4) a symmetric linear predictor is symmetrised, W_p ← (W_p + W_pᵀ)/2 (the code's
``predictor_reg=symmetric``, Table 3), and DirectPred overwrites W_p from F̂ when ``step % freq == 0``;
(5) the EMA update of the target (BYOL; γ_a = 0 is Table 3's "no EMA": the target is then the online
network after the step). SimSiam uses the online network itself, detached, as the target. The random
views are a pure function of ``(seed, step)``, so a resumed run replays them exactly.

The networks are built in a fixed order, online, target, predictor, so that every predictor variant of one
seed starts from the same online network and target (also with ``target_init="independent"``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from pipeline.core.seeding import make_generator
from pipeline.directpred.predictor import CorrelationEstimator, build_predictor, directpred_weight


@dataclass(frozen=True)
class SSLConfig:
    """Method, predictor and optimisation of one run (paper values in config/paper.yaml)."""

    method: str = "byol"  # byol | simsiam
    predictor: str = "directpred"  # linear | twolayer | directpred
    freq: int = 1
    rho: float = 0.3
    eps: float = 0.1
    directpred_mode: str = "code"
    symmetric_predictor: bool = False  # the code's predictor_reg=symmetric: W_p ← (W_p + W_pᵀ)/2 per step
    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 4e-4
    ema: float = 0.996
    target_init: str = "copy"  # copy | independent (the official code's behaviour)
    pred_lr_ratio: float = 1.0  # α_p: the predictor's learning rate over the encoder's (Fig. 6)
    proj_hidden: int = 128
    proj_dim: int = 64
    pred_hidden: int = 128


class SSLNet(nn.Module):
    """Encoder followed by the projector Linear → BN(affine=False) → ReLU → Linear (the official code)."""

    def __init__(self, encoder: nn.Module, feature_dim: int, hidden: int, out: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = nn.Sequential(
            nn.Linear(feature_dim, hidden),
            nn.BatchNorm1d(hidden, affine=False),
            nn.ReLU(),
            nn.Linear(hidden, out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projections ``[N, out]`` (the predictor's input f)."""
        return self.projector(self.encoder(x))


def cosine_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Batch mean of 2 − 2cos(prediction, target); the target is detached (stop-gradient)."""
    return (2 - 2 * functional.cosine_similarity(prediction, target.detach(), dim=-1)).mean()


class SSLStep:
    """``step(step, (x,)) -> {"loss"}``: one BYOL/SimSiam iteration; ``state_dict`` covers everything."""

    def __init__(
        self,
        cfg: SSLConfig,
        make_net: Callable[[], SSLNet],
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
        seed: int,
        device: torch.device | str,
    ) -> None:
        if cfg.method not in ("byol", "simsiam"):
            raise ValueError(f"method must be 'byol' or 'simsiam', got {cfg.method!r}")
        if cfg.target_init not in ("copy", "independent"):
            raise ValueError(f"target_init must be 'copy' or 'independent', got {cfg.target_init!r}")
        if cfg.freq < 1:
            raise ValueError(f"freq must be >= 1, got {cfg.freq}")
        self.cfg, self.augment, self.seed, self.device = cfg, augment, seed, torch.device(device)
        if cfg.pred_lr_ratio <= 0:
            raise ValueError(f"pred_lr_ratio must be > 0, got {cfg.pred_lr_ratio}")
        self.online = make_net().to(self.device)
        self.target: SSLNet | None = None
        if cfg.method == "byol":
            self.target = (
                copy.deepcopy(self.online) if cfg.target_init == "copy" else make_net().to(self.device)
            )
            self.target.requires_grad_(False)
        self.predictor = build_predictor(cfg.predictor, cfg.proj_dim, cfg.pred_hidden).to(self.device)
        self.estimator = CorrelationEstimator(cfg.proj_dim, cfg.rho).to(self.device)
        params = [
            {"params": list(self.online.parameters())},
            {"params": list(self.predictor.parameters()), "lr": cfg.lr * cfg.pred_lr_ratio},
        ]
        self.optimizer = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )

    def predictor_weight(self) -> torch.Tensor | None:
        """W_p of a linear predictor (linear or DirectPred); None for the two-layer predictor."""
        return self.predictor.weight if isinstance(self.predictor, nn.Linear) else None

    def _targets(self, v1: torch.Tensor, v2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor):
        if self.target is None:
            return z1.detach(), z2.detach()
        with torch.no_grad():
            return self.target(v1), self.target(v2)

    def __call__(self, step: int, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
        """One iteration on the images ``batch[0]`` (uint8 or float, on the device)."""
        generator = make_generator(self.seed, "views", step, device=self.device)
        x = batch[0]
        v1, v2 = self.augment(x, generator), self.augment(x, generator)
        self.online.train()
        self.predictor.train()
        z1, z2 = self.online(v1), self.online(v2)
        F = self.estimator.update(torch.cat([z1, z2]))
        t1, t2 = self._targets(v1, v2, z1, z2)
        loss = cosine_loss(self.predictor(z1), t2) + cosine_loss(self.predictor(z2), t1)
        value = float(loss.detach())
        if not torch.isfinite(loss):
            return {"loss": value}
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._after_step(step, F)
        return {"loss": value}

    @torch.no_grad()
    def _after_step(self, step: int, F: torch.Tensor) -> None:
        weight = self.predictor_weight()
        if weight is not None and self.cfg.symmetric_predictor:
            weight.copy_(0.5 * (weight + weight.T))
        if self.cfg.predictor == "directpred" and step % self.cfg.freq == 0:
            weight.copy_(directpred_weight(F, self.cfg.eps, self.cfg.directpred_mode))
        if self.target is not None:
            gamma = self.cfg.ema
            for online, target in zip(self.online.parameters(), self.target.parameters(), strict=True):
                target.mul_(gamma).add_(online, alpha=1 - gamma)
            for online, target in zip(self.online.buffers(), self.target.buffers(), strict=True):
                target.copy_(online)

    def state_dict(self) -> dict:
        """Online, target, predictor, F̂ and optimizer states."""
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict() if self.target is not None else None,
            "predictor": self.predictor.state_dict(),
            "estimator": self.estimator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.online.load_state_dict(state["online"])
        if self.target is not None:
            self.target.load_state_dict(state["target"])
        self.predictor.load_state_dict(state["predictor"])
        self.estimator.load_state_dict(state["estimator"])
        self.optimizer.load_state_dict(state["optimizer"])
