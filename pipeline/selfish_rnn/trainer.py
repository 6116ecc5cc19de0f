"""One Selfish-RNN training run on the shared engine: one iteration and the end-of-epoch logic.

The engine calls :meth:`SparseLMTrainer.step` every iteration and :meth:`SparseLMTrainer.end_of_epoch` as
its ``evaluate`` callback after every epoch (``eval_every = steps_per_epoch``). The trainer object is the
whole engine state (model, masks, SNT-ASGD state, validation history, best weights, hidden state), so a
killed run resumes exactly.

End of epoch (docs/selfish_rnn.md, "SNT-ASGD"): validation perplexity (on the averaged weights in the
averaging phase), remember the best weights; in the SGD phase, with ``use_asgd``, the non-monotone trigger
may switch to averaging, and in that epoch there is no prune/regrow; otherwise dynamic methods prune and
regrow at the cosine death rate, and regrown weights restart their SNT-ASGD clock. The test perplexity is
measured on the best-validation weights (:meth:`SparseLMTrainer.test`).

**Fork point.** An SNT-ASGD run calls ``fork_hook`` (when set) with :meth:`SparseLMTrainer.fork_state` at
the end of the epoch where its trigger fires, after validation and before the switch (or at its last epoch
end, when the trigger never fired). Up to that point an SGD run of the same seed has done exactly the same
(the SGD phase of SNT-ASGD is plain SGD), so a forked SGD run loads that state and continues with
:meth:`SparseLMTrainer.close_epoch` and the remaining steps (docs/selfish_rnn.md, "Forked SGD runs").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pipeline.core.evaluation import evaluate_language_model
from pipeline.core.seeding import rng_state
from pipeline.data.batches import SequenceBatches
from pipeline.models.lstm_lm import HiddenState, LSTMLanguageModel, detach_hidden
from pipeline.selfish_rnn.masking import GATES, SparseMasks
from pipeline.selfish_rnn.schedule import cosine_death_rate
from pipeline.selfish_rnn.snt_asgd import SNTASGD, nonmono_trigger


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and sparsity settings of one run (the resolved config, per method and optimiser)."""

    lr: float
    clip: float
    weight_decay: float
    nonmono: int
    use_asgd: bool
    dynamic: bool
    death_rate: float
    total_steps: int
    eval_batch_size: int
    bptt: int


def gate_key(name: str, gate: str) -> str:
    """History column of a gate's density, e.g. ``gate_rnn.weight_hh_l0_f``."""
    return f"gate_{name}_{gate}"


class SparseLMTrainer:
    """Step function, end-of-epoch callback and engine state of one (possibly sparse) LSTM LM run."""

    def __init__(
        self,
        model: LSTMLanguageModel,
        masks: SparseMasks | None,
        settings: TrainSettings,
        batches: SequenceBatches,
        valid: torch.Tensor,
        batch_size: int,
    ) -> None:
        self.model, self.masks, self.settings, self.batches = model, masks, settings, batches
        self.valid = valid
        self.optimizer = SNTASGD(model, settings.lr, settings.weight_decay, masks)
        self.hidden = HiddenState(model, batch_size)
        self.val_history: list[float] = []
        self.best_val = math.inf
        self.best_state: dict[str, torch.Tensor] = {}
        self.switch_epoch = -1
        self.epoch = 0
        self.device = next(model.parameters()).device
        self.fork_hook: Callable[[dict[str, Any]], None] | None = None

    # ------------------------------------------------------------------------------------- iteration

    def step(self, step: int, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """One iteration: zero grads, forward on the carried hidden state, CE, backward, clip, step, masks."""
        if self.batches.starts_epoch(step):
            self.hidden.reset()
        inputs, targets = (tensor.to(self.device) for tensor in batch)
        self.model.train()
        self.optimizer.zero_grad()
        logits, hidden = self.model(inputs, self.hidden.value)
        self.hidden.value = detach_hidden(hidden)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        value = float(loss.detach())
        if not math.isfinite(value):
            return {"loss": value}
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip)
        self.optimizer.step()
        return {"loss": value}

    # ---------------------------------------------------------------------------------- end of epoch

    def _validate(self) -> dict[str, float]:
        with self.optimizer.averaged_weights():
            result = evaluate_language_model(
                self.model, self.valid, self.settings.eval_batch_size, self.settings.bptt, prefix="val_"
            )
            if result["val_loss"] < self.best_val:
                self.best_val = result["val_loss"]
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return result

    def end_of_epoch(self) -> dict[str, float]:
        """Validate, maybe switch to averaging, maybe prune/regrow; returns this epoch's history row."""
        self.epoch += 1
        result = self._validate()
        if self.fork_hook is not None and self._fork_point(result["val_ppl"]):
            self.fork_hook(self.fork_state(result))
        return self.close_epoch(result)

    def _fork_point(self, val_ppl: float) -> bool:
        """Where a forked SGD run leaves this SNT-ASGD run: the trigger epoch, else the last epoch end."""
        if not self.settings.use_asgd or self.optimizer.averaging:
            return False
        last = self.epoch * self.batches.steps_per_epoch >= self.settings.total_steps
        return last or nonmono_trigger(self.val_history, val_ppl, self.settings.nonmono)

    def fork_state(self, validation: dict[str, float]) -> dict[str, Any]:
        """This epoch's state after validation and before the switch decision: everything an SGD run of the
        same seed needs to continue from here (the trainer, the global RNG states, the validation numbers)."""
        return {
            "trainer": self.state_dict(),
            "rng": rng_state(),
            "validation": dict(validation),
            "epoch": self.epoch,
        }

    def close_epoch(self, result: dict[str, float]) -> dict[str, float]:
        """The end of an epoch after validation (``result``): maybe switch to averaging, maybe
        prune/regrow, record the validation perplexity; returns this epoch's history row."""
        val_ppl = result["val_ppl"]
        switched = False
        waiting = self.settings.use_asgd and not self.optimizer.averaging
        if waiting and nonmono_trigger(self.val_history, val_ppl, self.settings.nonmono):
            self.optimizer.start_averaging()
            self.switch_epoch, switched = self.epoch, True
        row = {**result, "epoch": float(self.epoch), "averaging": float(self.optimizer.averaging)}
        step = self.epoch * self.batches.steps_per_epoch
        death_rate = cosine_death_rate(step, self.settings.total_steps, self.settings.death_rate)
        if self.masks is not None and self.settings.dynamic and not switched:
            grown = self.masks.prune_regrow(self.model, death_rate)
            self.optimizer.restart(grown)
            row["regrown"] = float(sum(int(where.sum()) for where in grown.values()))
            row["death_rate"] = death_rate
            row["budget_error_max"] = float(max(abs(e) for e in self.masks.budget_errors().values()))
        self.val_history.append(val_ppl)
        return {**row, **self.gate_statistics(), "nonzero": float(self.nonzero_weights())}

    def gate_statistics(self) -> dict[str, float]:
        """Density of every gate block of every LSTM matrix (empty for a dense model)."""
        if self.masks is None:
            return {}
        return {
            gate_key(name, gate): density
            for name in self.masks.lstm_names()
            for gate, density in zip(GATES, self.masks.gate_densities(name), strict=True)
        }

    def nonzero_weights(self) -> int:
        """Parameters the model may use, biases included: alive mask entries plus every dense tensor.

        (Counting ``W != 0`` would miss regrown weights, which hold exactly 0 until their first update.)
        """
        params = dict(self.model.named_parameters())
        if self.masks is None:
            return sum(param.numel() for param in params.values())
        dense = sum(param.numel() for name, param in params.items() if name not in self.masks.masks)
        return dense + self.masks.nonzero_count()

    def test(self, tokens: torch.Tensor) -> dict[str, float]:
        """Test loss/perplexity with the best-validation weights (inf when no epoch finished)."""
        if not self.best_state:
            return {"test_loss": math.inf, "test_ppl": math.inf}
        raw = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.best_state)
        result = evaluate_language_model(
            self.model, tokens, self.settings.eval_batch_size, self.settings.bptt, prefix="test_"
        )
        self.model.load_state_dict(raw)
        return result

    # ----------------------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs."""
        return {
            "model": self.model.state_dict(),
            "masks": self.masks.state_dict() if self.masks is not None else {},
            "optimizer": self.optimizer.state_dict(),
            "hidden": self.hidden.state_dict(),
            "val_history": list(self.val_history),
            "best_val": self.best_val,
            "best_state": self.best_state,
            "switch_epoch": self.switch_epoch,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.load_state_dict(state["model"])
        if self.masks is not None:
            self.masks.load_state_dict(state["masks"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.hidden.load_state_dict(state["hidden"])
        self.val_history = [float(v) for v in state["val_history"]]
        self.best_val = float(state["best_val"])
        self.best_state = dict(state["best_state"])
        self.switch_epoch = int(state["switch_epoch"])
        self.epoch = int(state["epoch"])
