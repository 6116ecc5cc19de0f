"""Sparse masks for the LSTM language model: initialisation, magnitude death, growth, per-gate statistics.

Follows docs/selfish_rnn.md ("Method") with three deliberate differences from the official code (listed
there under "Differences from the official code"):

- masks are keyed by parameter **name** (never by index), so tied weights and any depth work;
- initial masks and growth use **exact counts** (a uniformly random subset of the right size) instead of
  Bernoulli draws, so every tensor holds exactly its budget after every prune/regrow (the
  ``budget_preserved`` check);
- magnitude death removes exactly ``ceil(p·n_nz)`` alive weights (smallest |W| first) instead of thresholding
  the sorted tensor, which can remove more on ties; every regrown weight, including a just-pruned one that is
  redrawn, starts at 0.

Every non-bias parameter is sparse (embedding, every ``weight_ih_l*``/``weight_hh_l*``, decoder), all at the
same density. **Redistribution** across the four gates of a cell (cell-gate redistribution) is a result of
treating a stacked ``[4H, ·]`` LSTM matrix as one group: one magnitude ranking and one uniform regrowth over
all four gates, so gates with larger weights keep more. With ``gate_groups=True`` (the SET-style baseline
"without redistribution") every gate block is its own group with its own fixed budget.
Random numbers come from a CPU ``torch.Generator`` and are moved to the parameter's device, so the same
seed gives the same masks on CPU and CUDA.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

GATES = ("i", "f", "g", "o")  # PyTorch's stacking order of the LSTM gates along dim 0


def sparse_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters that get a mask: every one whose name does not contain "bias"."""
    return [name for name, _ in model.named_parameters() if "bias" not in name]


def is_lstm_weight(name: str) -> bool:
    """True for a stacked-gate LSTM matrix (``weight_ih_l*`` / ``weight_hh_l*``)."""
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("weight_ih_l") or leaf.startswith("weight_hh_l")


def erdos_renyi_densities(shapes: dict[str, tuple[int, ...]], density: float) -> dict[str, float]:
    """Per-tensor densities ε·(Σ dims)/(Π dims), capped at 1, with ε chosen so Σ dᵢ·nᵢ = density·Σ nᵢ.

    Tensors whose ER density would exceed 1 are made dense and ε is re-solved for the rest.
    """
    total = sum(math.prod(shape) for shape in shapes.values())
    dense: set[str] = set()
    while True:
        budget = density * total - sum(math.prod(shapes[name]) for name in dense)
        raw = {name: sum(shape) for name, shape in shapes.items() if name not in dense}
        if not raw:
            return dict.fromkeys(shapes, 1.0)
        epsilon = budget / sum(raw.values())
        out = {name: epsilon * sum(shapes[name]) / math.prod(shapes[name]) for name in raw}
        over = {name for name, value in out.items() if value > 1.0}
        if not over:
            return {**dict.fromkeys(dense, 1.0), **out}
        dense |= over


class SparseMasks:
    """Boolean masks of a model's weight matrices, their budgets, and the prune/regrow pass.

    ``groups`` of a tensor are row slices: one slice covering the tensor, or, with ``gate_groups`` and an
    LSTM matrix, its four gate blocks. ``budgets[name][g]`` is the number of non-zeros group ``g`` keeps.
    """

    def __init__(
        self,
        model: nn.Module,
        density: float,
        init: str = "uniform",
        growth: str = "random",
        gate_groups: bool = False,
        seed: int = 0,
    ) -> None:
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {density}")
        if init not in ("uniform", "ER"):
            raise ValueError(f"sparse init must be 'uniform' or 'ER', got {init!r}")
        if growth not in ("random", "gradient"):
            raise ValueError(f"growth must be 'random' or 'gradient', got {growth!r}")
        self.density, self.init, self.growth, self.gate_groups = density, init, growth, gate_groups
        self.generator = torch.Generator().manual_seed(seed)
        params = dict(model.named_parameters())
        self.names = sparse_parameter_names(model)
        shapes = {name: tuple(params[name].shape) for name in self.names}
        densities = (
            erdos_renyi_densities(shapes, density) if init == "ER" else dict.fromkeys(self.names, density)
        )
        self.masks: dict[str, torch.Tensor] = {}
        for name in self.names:
            count = round(densities[name] * params[name].numel())
            self.masks[name] = self._random_subset(params[name].numel(), count, params[name].device).view(
                shapes[name]
            )
        self.budgets = {
            name: [int(self.masks[name][rows].sum()) for rows in self.groups(name)] for name in self.names
        }
        self.apply(model)

    # ------------------------------------------------------------------------------------------ queries

    def groups(self, name: str) -> list[slice]:
        """Row slices that own separate budgets: four gate blocks (SET-style) or the whole tensor."""
        rows = self.masks[name].shape[0]
        if self.gate_groups and is_lstm_weight(name):
            block = rows // len(GATES)
            return [slice(g * block, (g + 1) * block) for g in range(len(GATES))]
        return [slice(0, rows)]

    def nonzero_count(self) -> int:
        """Alive weights over all sparse tensors."""
        return int(sum(int(mask.sum()) for mask in self.masks.values()))

    def total_count(self) -> int:
        """Weights (alive or not) over all sparse tensors."""
        return int(sum(mask.numel() for mask in self.masks.values()))

    def budget_errors(self) -> dict[str, int]:
        """Σ M − budget per tensor (0 everywhere when the budget is kept exactly)."""
        return {name: int(self.masks[name].sum()) - sum(self.budgets[name]) for name in self.names}

    def gate_densities(self, name: str) -> list[float]:
        """Density of each of the four gate blocks (i, f, g, o) of an LSTM matrix."""
        mask = self.masks[name]
        block = mask.shape[0] // len(GATES)
        return [float(mask[g * block : (g + 1) * block].float().mean()) for g in range(len(GATES))]

    def lstm_names(self) -> list[str]:
        """The sparse LSTM matrices, in parameter order."""
        return [name for name in self.names if is_lstm_weight(name)]

    # -------------------------------------------------------------------------------------------- edits

    def _random_subset(self, numel: int, count: int, device: torch.device) -> torch.Tensor:
        """A flat boolean mask with exactly ``count`` True entries at uniformly random positions."""
        mask = torch.zeros(numel, dtype=torch.bool)
        mask[torch.randperm(numel, generator=self.generator)[:count]] = True
        return mask.to(device)

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        """W ← W ⊙ M for every sparse tensor (masked weights become exactly 0)."""
        params = dict(model.named_parameters())
        for name in self.names:
            params[name].mul_(self.masks[name])

    @torch.no_grad()
    def prune_regrow(self, model: nn.Module, death_rate: float) -> dict[str, torch.Tensor]:
        """Magnitude death then growth back to each group's budget; returns the newly grown masks.

        Per group with n_nz alive weights: remove the ``ceil(death_rate·n_nz)`` alive weights of smallest |W|,
        zero them, then switch on exactly ``budget − alive`` of the group's zero positions (random, or the
        largest |grad| with ``growth="gradient"``). Grown weights hold 0.
        """
        params = dict(model.named_parameters())
        grown: dict[str, torch.Tensor] = {}
        for name in self.names:
            weight, mask = params[name], self.masks[name]
            new_grown = torch.zeros_like(mask)
            for rows, budget in zip(self.groups(name), self.budgets[name], strict=True):
                block_mask = mask[rows]
                self._death(weight[rows], block_mask, death_rate)
                weight[rows] *= block_mask
                grad = weight.grad[rows] if weight.grad is not None else None
                new_grown[rows] = self._grow(block_mask, budget, grad)
            weight.mul_(mask)
            grown[name] = new_grown
        return grown

    def _death(self, weight: torch.Tensor, mask: torch.Tensor, death_rate: float) -> None:
        """Switch off (in place) the ``ceil(death_rate·n_nz)`` alive entries of smallest magnitude."""
        alive = int(mask.sum())
        kill = min(alive, math.ceil(death_rate * alive))
        if kill == 0:
            return
        score = torch.where(mask, weight.abs(), torch.full_like(weight, math.inf)).flatten()
        victims = torch.topk(score, kill, largest=False).indices
        mask.view(-1)[victims] = False

    def _grow(self, mask: torch.Tensor, budget: int, grad: torch.Tensor | None) -> torch.Tensor:
        """Switch on (in place) ``budget − Σ mask`` zero positions; return where it did."""
        missing = budget - int(mask.sum())
        grown = torch.zeros_like(mask)
        if missing <= 0:
            return grown
        empty = (~mask).flatten().nonzero().flatten()
        if self.growth == "gradient" and grad is not None:
            scores = grad.abs().flatten()[empty]
            chosen = empty[torch.topk(scores, missing).indices]
        else:
            order = torch.randperm(len(empty), generator=self.generator).to(empty.device)
            chosen = empty[order[:missing]]
        grown.view(-1)[chosen] = True
        mask.view(-1)[chosen] = True
        return grown

    # -------------------------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """Masks, budgets and the growth generator (everything a resumed run needs)."""
        return {
            "masks": {name: mask.clone() for name, mask in self.masks.items()},
            "budgets": {name: list(values) for name, values in self.budgets.items()},
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        for name in self.names:
            self.masks[name].copy_(state["masks"][name])
        self.budgets = {name: [int(v) for v in values] for name, values in state["budgets"].items()}
        self.generator.set_state(state["generator"])
