"""The selfish_rnn study (Liu, Mocanu, Pei, Pechenizkiy 2021, Selfish Sparse RNN Training): what each run
computes and the claims. The run table is in :mod:`pipeline.selfish_rnn.runs`.

One run trains a (dense or masked) 2-layer LSTM language model with SGD or SNT-ASGD
(:mod:`~pipeline.selfish_rnn.experiment`, on :mod:`~pipeline.selfish_rnn.trainer`,
:mod:`~pipeline.selfish_rnn.masking` and :mod:`~pipeline.selfish_rnn.snt_asgd`); the claims are in
:mod:`~pipeline.selfish_rnn.claims`. No theory step.
"""

from __future__ import annotations

from pipeline.core.study import RunContext, RunOutput
from pipeline.selfish_rnn import experiment
from pipeline.selfish_rnn.runs import SelfishRun


def execute(spec: SelfishRun, ctx: RunContext) -> RunOutput:
    """Train one LM run (resumable from ctx.run_dir/checkpoint.pt) and test on the best-validation weights."""
    if not isinstance(spec, SelfishRun):
        raise TypeError(f"selfish_rnn: not a SelfishRun: {spec!r}")
    return experiment.run(spec, ctx)
