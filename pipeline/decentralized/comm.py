"""What an algorithm may communicate: gossip rounds with W, exact averaging, and the consensus distance.

Algorithms act on row blocks ``X`` of shape ``[rows, d]``: all n workers at once in the simulator
(:class:`StackedComm`, rows = n, a gossip round is ``W @ X``) or one worker in a torch.distributed process
(:class:`pipeline.decentralized.distributed.ProcessComm`, rows = 1). Only those three operations couple
workers, so the algorithms are the same code in both settings.

:class:`Gossip` is the per-iteration gossip policy: a fixed number of rounds, or consensus control
(Kong et al. 2021): gossip until Ξ ≤ target or ``max_rounds``, logging the number of rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


class Comm(Protocol):
    """Communication primitives over the workers' row blocks."""

    def mix(self, X: torch.Tensor) -> torch.Tensor:
        """One gossip round: row i becomes Σ_j W_ij x_j."""

    def average(self, X: torch.Tensor) -> torch.Tensor:
        """Exact average over all workers (all-reduce), broadcast to every row."""

    def xi_sq(self, X: torch.Tensor) -> float:
        """Consensus distance Ξ² = (1/n) Σ_i ‖x_i − x̄‖² (Kong et al. 2021, Eq. of the consensus distance)."""


def consensus_distance_sq(X: torch.Tensor) -> torch.Tensor:
    """Ξ² of the stacked parameters ``X`` ``[n, d]`` (a 0-d tensor, computed in X's dtype)."""
    return (X - X.mean(dim=0, keepdim=True)).square().sum(dim=1).mean()


class StackedComm:
    """All n workers in one tensor ``[n, d]``; gossip is the matrix product ``W @ X``."""

    def __init__(self, W: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> None:
        self.W = torch.as_tensor(W, dtype=torch.float32, device=device)
        self.n = self.W.shape[0]

    def mix(self, X: torch.Tensor) -> torch.Tensor:
        return (self.W if self.W.dtype == X.dtype else self.W.to(X.dtype)) @ X

    def average(self, X: torch.Tensor) -> torch.Tensor:
        return X.mean(dim=0, keepdim=True).expand_as(X).clone()

    def xi_sq(self, X: torch.Tensor) -> float:
        return float(consensus_distance_sq(X))


@dataclass
class Gossip:
    """Gossip policy of one iteration: ``rounds`` rounds, then (control) more until Ξ ≤ ``target``.

    ``target`` is a consensus distance Ξ (not Ξ²); None means a fixed number of rounds. ``last_rounds``
    holds the rounds of the latest call, for logging.
    """

    rounds: int = 1
    target: float | None = None
    max_rounds: int = 100
    last_rounds: int = 0

    def __call__(self, comm: Comm, X: torch.Tensor) -> torch.Tensor:
        """Apply the policy to ``X`` and return the gossiped block."""
        count = 0
        for _ in range(self.rounds):
            X, count = comm.mix(X), count + 1
        if self.target is not None:
            target_sq = self.target**2
            while count < self.max_rounds and not math.isnan(xi := comm.xi_sq(X)) and xi > target_sq:
                X, count = comm.mix(X), count + 1
        self.last_rounds = count
        return X
