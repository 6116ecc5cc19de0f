"""Stacked LSTM language model (Zaremba et al. 2014; PyTorch's word_language_model; Selfish-RNN's base).

Embedding -> dropout -> ``nlayers``-layer ``nn.LSTM`` (dropout between layers) -> dropout -> linear
decoder over the vocabulary. Sequences are time-major: input ``[T, B]`` token ids, output logits
``[T, B, V]``. ``tie_weights`` shares the embedding and decoder matrices (needs ``emsize == nhid``).
Embedding and decoder weights start U(-init_range, init_range) and the decoder bias at 0. The LSTM keeps
PyTorch's parameter names (``weight_ih_l0``, ``weight_hh_l0``, ...), whose four gates are stacked along dim 0.
"""

from __future__ import annotations

import torch
from torch import nn

Hidden = tuple[torch.Tensor, torch.Tensor]


class LSTMLanguageModel(nn.Module):
    """Word-level LSTM LM; ``forward(tokens, hidden) -> (logits, hidden)``."""

    def __init__(
        self,
        vocab_size: int,
        emsize: int = 200,
        nhid: int = 200,
        nlayers: int = 2,
        dropout: float = 0.2,
        tie_weights: bool = False,
        init_range: float = 0.1,
    ) -> None:
        super().__init__()
        if tie_weights and emsize != nhid:
            raise ValueError(f"tie_weights needs emsize == nhid, got {emsize} and {nhid}")
        self.nlayers, self.nhid = nlayers, nhid
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab_size, emsize)
        self.rnn = nn.LSTM(emsize, nhid, nlayers, dropout=dropout if nlayers > 1 else 0.0)
        self.decoder = nn.Linear(nhid, vocab_size)
        nn.init.uniform_(self.encoder.weight, -init_range, init_range)
        nn.init.uniform_(self.decoder.weight, -init_range, init_range)
        nn.init.zeros_(self.decoder.bias)
        if tie_weights:
            self.decoder.weight = self.encoder.weight

    def init_hidden(self, batch_size: int) -> Hidden:
        """Zero ``(h, c)``, each ``[nlayers, B, nhid]``, on the model's device."""
        weight = self.decoder.weight
        shape = (self.nlayers, batch_size, self.nhid)
        return weight.new_zeros(shape), weight.new_zeros(shape)

    def forward(self, tokens: torch.Tensor, hidden: Hidden | None = None) -> tuple[torch.Tensor, Hidden]:
        """Logits ``[T, B, V]`` and the new hidden state (detach it between truncated-BPTT windows)."""
        if hidden is None:
            hidden = self.init_hidden(tokens.shape[1])
        output, hidden = self.rnn(self.drop(self.encoder(tokens)), hidden)
        return self.decoder(self.drop(output)), hidden


def detach_hidden(hidden: Hidden) -> Hidden:
    """The hidden state cut from its graph (truncated backpropagation through time)."""
    return hidden[0].detach(), hidden[1].detach()


class HiddenState:
    """The hidden state carried from one truncated-BPTT window to the next, checkpointable by the engine.

    Pass it in the engine's ``state`` (e.g. ``{"train": step, "hidden": carry}``) so that a resumed run
    continues with the same hidden state; call :meth:`reset` at the start of each epoch.
    """

    def __init__(self, model: LSTMLanguageModel, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size
        self.value: Hidden = model.init_hidden(batch_size)

    def reset(self) -> None:
        """Zero the state (start of an epoch)."""
        self.value = self.model.init_hidden(self.batch_size)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """``{"h": ..., "c": ...}``."""
        return {"h": self.value[0], "c": self.value[1]}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.value = (state["h"], state["c"])
