"""The training loop shared by every study: steps, evaluation, history, divergence, checkpoints, resume.

Choose the device with :func:`pipeline.core.device.select_device`, call
:func:`pipeline.core.seeding.seed_everything` before building the model, then::

    update = SupervisedStep(model, optimizer, cross_entropy_loss, scheduler=scheduler)
    spec = TrainSpec(steps=1000, seed=seed, eval_every=100, log_every=10,
                     checkpoint_path=run_dir / "checkpoint.pt", checkpoint_every=200)
    result = train(spec, update, TensorBatches(x, y, batch_size=64, seed=seed),
                   state={"train": update},  # model, optimizer, scheduler and AMP scaler
                   evaluate=lambda: evaluate_classifier(model, x_test, y_test, prefix="test_"))
    # result.metrics -> metrics.json, result.history_frame() -> history.csv

Contract:

- ``batches(step)`` returns batch ``step`` and must be a pure function of ``(seed, step)``
  (:mod:`pipeline.data.batches`), so a resumed run sees the same batches;
- ``step(step, batch)`` performs one update and returns the loss tensor or a dict with ``"loss"`` and
  other numbers; history and metrics record them as ``train_<name>``;
- ``state`` names every object whose state must survive a restart: anything with
  ``state_dict``/``load_state_dict`` (modules, optimizers, schedulers, a :class:`SupervisedStep`, study
  objects such as :class:`pipeline.models.lstm_lm.HiddenState`), a ``torch.Generator``, or tensors and
  dicts of tensors restored in place (e.g. stacked worker parameters); the global Python, NumPy and
  torch RNG states are saved as well;
- a run *diverges* when its loss is non-finite, or when the mean training loss over the last
  ``divergence_window`` steps exceeds ``divergence_factor`` times the loss of the first step (applied
  when that first loss is positive, as every cross-entropy is; 0 switches the second rule off). A loss
  that stays several times above its starting value has left the basin it started in: a learning rate
  of 50 that holds the loss at 20 (chance is 2.3) is as diverged as one that overflows. Divergence ends
  the run cleanly: ``diverged_at_step`` is the 1-based number of the step that triggered it,
  ``divergence_ratio`` the loss ratio (inf for a non-finite loss), the run is marked done, and no
  evaluation follows, so a learning-rate sweep goes on;
- with ``checkpoint_path`` set, a checkpoint is written atomically every ``checkpoint_every`` steps and at
  the end; a new call with the same spec resumes from it (or returns the finished result at once);
- ``evaluate()`` runs after every ``eval_every`` steps and after the last step; its numbers (use
  distinct names such as ``test_accuracy``) join the history row and the final metrics.

:func:`step_limit` caps every ``train`` call inside it at a few steps (the schedule, model, data and
evaluation stay those of the full run): the check that a paper-scale run's code path works end to end,
used by the tests and ``python -m pipeline.paper_check``; the workflow never sets it.

Histories are rows ``{"step": s, "train_<name>": mean over the steps since the previous row, ...eval}``,
written every ``log_every`` steps and at every evaluation. Wall time is kept out of the metrics so that
equal seeds give equal metrics.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pipeline.core.checkpoint import load_checkpoint, save_checkpoint
from pipeline.core.progress import progress_bar
from pipeline.core.seeding import rng_state, set_rng_state

if TYPE_CHECKING:
    import pandas as pd

CHECKPOINT_FORMAT = 2
DIVERGENCE_FACTOR = 3.0
DIVERGENCE_WINDOW = 20


@dataclass
class StepProbe:
    """What :func:`step_limit` observed: per ``train`` call, the steps the full run would take and the
    loop it belongs to (its checkpoint path; calls without one are loops of their own), and the wall
    seconds and FLOPs (torch's FlopCounterMode) of each step actually taken."""

    limit: int
    requested_steps: list[int] = field(default_factory=list)
    loops: list[str | None] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    step_flops: list[int] = field(default_factory=list)

    def full_steps(self) -> int:
        """Steps of the full runs: a loop trained in segments (one ``train`` call per segment, each to a
        later step, on one checkpoint) counts its last end, distinct loops add up."""
        ends: dict[str | int, int] = {}
        for index, (loop, steps) in enumerate(zip(self.loops, self.requested_steps, strict=True)):
            key = index if loop is None else loop
            ends[key] = max(ends.get(key, 0), steps)
        return sum(ends.values())


_PROBE: ContextVar[StepProbe | None] = ContextVar("step_probe", default=None)


def step_limited() -> bool:
    """Whether this code runs inside :func:`step_limit` (a check, whose short runs may never reach a
    phase a full run has)."""
    return _PROBE.get() is not None


CHECK_EXAMPLES = 128  # examples an evaluation-only pass keeps inside a step-limited check


def evaluation_cap(count: int) -> int:
    """``count``, or at most :data:`CHECK_EXAMPLES` inside :func:`step_limit`: an evaluation-only pass
    over many examples (a Tr F estimate, a fit on the whole training split) keeps its code path and its
    shapes per example in a check, not its cost."""
    return min(count, CHECK_EXAMPLES) if step_limited() else count


@contextmanager
def step_limit(steps: int) -> Iterator[StepProbe]:
    """Within the block every :func:`train` call stops after at most ``steps`` steps, then evaluates;
    yields the :class:`StepProbe` that records the calls (the block's runs are checks, not results)."""
    if steps < 1:
        raise ValueError(f"step limit must be >= 1, got {steps}")
    probe = StepProbe(steps)
    token = _PROBE.set(probe)
    try:
        yield probe
    finally:
        _PROBE.reset(token)


def _capped(spec: TrainSpec, run: _Run, probe: StepProbe) -> TrainSpec:
    """``spec`` inside a check: a loop's first call takes at most ``probe.limit`` steps past the step it
    starts from (a run resumed from another run's snapshot trains too); a later segment of the same loop
    takes none."""
    loop = None if spec.checkpoint_path is None else str(spec.checkpoint_path)
    seen = loop is not None and loop in probe.loops
    probe.requested_steps.append(spec.steps)
    probe.loops.append(loop)
    end = run.step if seen else run.step + probe.limit
    if spec.steps <= end:
        return spec
    run.done = run.step >= end
    return dataclasses.replace(spec, steps=end)


class _NoModules:
    """Stands in for FlopCounterMode's module tracker: every FLOP counts under "Global" only."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _NoModules:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def _rnn_layer_flops(input_shape: Any, w_ih: Any, w_hh: Any, *args: Any, **kwargs: Any) -> int:
    """One fused LSTM layer on CPU (oneDNN's ``mkldnn_rnn_layer``): the gate products x·W_ihᵀ and
    h·W_hhᵀ at every time step, 2·T·B·4H·(in + H) FLOPs (elementwise gate maths not counted, as for
    every other op)."""
    steps, batch = input_shape[0], input_shape[1]
    gates, features = w_ih
    return 2 * steps * batch * gates * (features + w_hh[1])


def _rnn_layer_backward_flops(input_shape: Any, w_ih: Any, w_hh: Any, *args: Any, **kwargs: Any) -> int:
    """Its backward: the input (and hidden) gradients and the weight gradients, twice the forward."""
    return 2 * _rnn_layer_flops(input_shape, w_ih, w_hh)


def _flop_counter() -> Any:
    """torch's FlopCounterMode without its per-module tracker, whose hooks on module inputs break
    ``torch.autograd.grad`` with respect to an input (Fisher's input-gradient penalty); the total, the
    only count read here, is the same. torch counts no FLOPs for the fused LSTM kernels; on CPU this
    counter adds them (the LSTMs of selfish_rnn and nero's language model)."""
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    rnn = {aten.mkldnn_rnn_layer: _rnn_layer_flops, aten.mkldnn_rnn_layer_backward: _rnn_layer_backward_flops}
    counter = FlopCounterMode(display=False, custom_mapping=rnn)
    counter.mod_tracker = _NoModules()
    return counter


def _probed(step_fn: Callable, probe: StepProbe) -> Callable:
    """``step_fn`` timed (CUDA synchronised) and its FLOPs counted into ``probe``."""

    def timed(index: int, batch: Any) -> Any:
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        counter = _flop_counter()
        sync()
        start = time.perf_counter()
        with counter:
            output = step_fn(index, batch)
        sync()
        probe.step_seconds.append(time.perf_counter() - start)
        probe.step_flops.append(int(counter.get_total_flops()))
        return output

    return timed


@dataclass(frozen=True)
class TrainSpec:
    """How long to train and when to evaluate, log and checkpoint (0 = only at the end)."""

    steps: int
    seed: int = 0
    eval_every: int = 0
    log_every: int = 1
    checkpoint_path: Path | None = None
    checkpoint_every: int = 0
    resume: bool = True
    progress: bool | None = None
    desc: str = "train"
    divergence_factor: float = DIVERGENCE_FACTOR
    divergence_window: int = DIVERGENCE_WINDOW
    # False in all but one process of a multi-process run: every process computes the checkpoint's state
    # (gathering it may be collective) and reads the checkpoint, one writes it.
    checkpoint_writer: bool = True


@dataclass
class TrainResult:
    """Final metrics, the history rows, and where (if anywhere) the run diverged."""

    metrics: dict[str, float]
    history: list[dict[str, float]]
    diverged_at_step: int | None
    steps_completed: int
    resumed_from: int | None = None
    wall_seconds: float = 0.0
    last_eval: dict[str, float] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        """True when the run diverged (a non-finite loss, or a loss held far above its start)."""
        return self.diverged_at_step is not None

    def history_frame(self) -> pd.DataFrame:
        """The history as a DataFrame (one row per logged step), for history.csv."""
        import pandas as pd

        return pd.DataFrame(self.history)


def _floats(output: torch.Tensor | Mapping[str, Any]) -> dict[str, float]:
    values = {"loss": output} if isinstance(output, torch.Tensor) else dict(output)
    if "loss" not in values:
        raise KeyError(
            f"the step function must return a loss tensor or a dict with 'loss', got {sorted(values)}"
        )
    return {name: float(v.detach() if isinstance(v, torch.Tensor) else v) for name, v in values.items()}


def _get_state(obj: Any) -> Any:
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {key: value.detach().clone() for key, value in obj.items()}
    return obj.state_dict()


def _set_state(obj: Any, state: Any) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    elif isinstance(obj, torch.Tensor):
        with torch.no_grad():
            obj.copy_(state)
    elif isinstance(obj, dict):
        with torch.no_grad():
            for key, value in obj.items():
                value.copy_(state[key])
    else:
        obj.load_state_dict(state)


@dataclass
class _Window:
    """Sums of the step metrics since the last history row."""

    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1

    def flush(self) -> dict[str, float]:
        means = (
            {f"train_{name}": total / self.count for name, total in self.sums.items()} if self.count else {}
        )
        self.sums, self.count = {}, 0
        return means


@dataclass
class _Run:
    """The mutable progress of one run; exactly what a checkpoint stores besides object states."""

    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    window: _Window = field(default_factory=_Window)
    last_train: dict[str, float] = field(default_factory=dict)
    last_eval: dict[str, float] = field(default_factory=dict)
    diverged_at_step: int | None = None
    done: bool = False
    first_loss: float | None = None
    recent_losses: list[float] = field(default_factory=list)
    divergence_ratio: float | None = None


def _save(spec: TrainSpec, run: _Run, state: Mapping[str, Any]) -> None:
    payload = {
        "format": CHECKPOINT_FORMAT,
        "seed": spec.seed,
        "steps": spec.steps,
        "step": run.step,
        "done": run.done,
        "diverged_at_step": run.diverged_at_step,
        "history": run.history,
        "window": {"sums": run.window.sums, "count": run.window.count},
        "last_train": run.last_train,
        "last_eval": run.last_eval,
        "first_loss": run.first_loss,
        "recent_losses": run.recent_losses,
        "divergence_ratio": run.divergence_ratio,
        "rng": rng_state(),
        "state": {name: _get_state(obj) for name, obj in state.items()},
    }
    if spec.checkpoint_writer:
        save_checkpoint(spec.checkpoint_path, payload)


def _restore(spec: TrainSpec, state: Mapping[str, Any]) -> _Run | None:
    path = spec.checkpoint_path
    if path is None or not spec.resume or not Path(path).exists():
        return None
    payload = load_checkpoint(path)
    if payload.get("format") != CHECKPOINT_FORMAT or payload["seed"] != spec.seed:
        raise ValueError(f"{path}: checkpoint is from another run (format/seed differ from the spec)")
    if payload["step"] > spec.steps or set(payload["state"]) != set(state):
        raise ValueError(
            f"{path}: checkpoint at step {payload['step']} with state {sorted(payload['state'])} does not "
            f"fit a run of {spec.steps} steps with state {sorted(state)}"
        )
    for name, obj in state.items():
        _set_state(obj, payload["state"][name])
    set_rng_state(payload["rng"])
    window = _Window(dict(payload["window"]["sums"]), payload["window"]["count"])
    finished = payload["done"] and (payload["diverged_at_step"] is not None or payload["step"] == spec.steps)
    return _Run(
        payload["step"],
        list(payload["history"]),
        window,
        payload["last_train"],
        payload["last_eval"],
        payload["diverged_at_step"],
        finished,
        payload["first_loss"],
        list(payload["recent_losses"]),
        payload["divergence_ratio"],
    )


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def _final_metrics(run: _Run) -> dict[str, float]:
    metrics: dict[str, float] = {
        "steps": float(run.step),
        "diverged": float(run.diverged_at_step is not None),
    }
    if run.diverged_at_step is not None:
        metrics["diverged_at_step"] = float(run.diverged_at_step)
        metrics["divergence_ratio"] = float(run.divergence_ratio or math.inf)
        return {**metrics, **run.last_train}
    return {**metrics, **run.last_train, **run.last_eval}


def _divergence(spec: TrainSpec, run: _Run, loss: float) -> float | None:
    """The loss ratio that makes this step divergent (see the module docstring), else None."""
    if not math.isfinite(loss):
        return math.inf
    if run.first_loss is None:
        run.first_loss = loss
    if spec.divergence_factor <= 0 or run.first_loss <= 0:
        return None
    run.recent_losses = [*run.recent_losses, loss][-spec.divergence_window :]
    if len(run.recent_losses) < spec.divergence_window:
        return None
    ratio = sum(run.recent_losses) / len(run.recent_losses) / run.first_loss
    return ratio if ratio > spec.divergence_factor else None


def _advance(
    spec: TrainSpec, run: _Run, step_fn: Callable, batches: Callable, evaluate: Callable | None
) -> None:
    """Perform step ``run.step`` and the logging/evaluation due after it."""
    values = _floats(step_fn(run.step, batches(run.step)))
    run.step += 1
    run.window.add(values)
    ratio = _divergence(spec, run, values["loss"])
    if ratio is not None:
        run.diverged_at_step, run.divergence_ratio, run.done = run.step, ratio, True
        run.last_train = run.window.flush()
        run.history.append({"step": float(run.step), **run.last_train})
        return
    evaluate_now = evaluate is not None and _due(run.step, spec.eval_every, spec.steps)
    if evaluate_now or _due(run.step, spec.log_every, spec.steps):
        run.last_train = run.window.flush()
        row = {"step": float(run.step), **run.last_train}
        if evaluate_now:
            run.last_eval = {name: float(value) for name, value in evaluate().items()}
            row.update(run.last_eval)
        run.history.append(row)
    run.done = run.step == spec.steps


def train(
    spec: TrainSpec,
    step: Callable[[int, Any], torch.Tensor | Mapping[str, Any]],
    batches: Callable[[int], Any],
    state: Mapping[str, Any],
    evaluate: Callable[[], Mapping[str, float]] | None = None,
) -> TrainResult:
    """Run (or resume, or return the finished) training described by ``spec``; see the module docstring."""
    if spec.steps < 1:
        raise ValueError(f"steps must be >= 1, got {spec.steps}")
    probe = _PROBE.get()
    if spec.checkpoint_every and spec.checkpoint_path is None:
        raise ValueError("checkpoint_every is set but checkpoint_path is not")
    start = time.perf_counter()
    run = _restore(spec, state)
    resumed_from = run.step if run is not None else None
    run = run or _Run()
    if probe is not None:
        spec, step = _capped(spec, run, probe), _probed(step, probe)
    with progress_bar(spec.steps, spec.desc, initial=run.step, enabled=spec.progress) as bar:
        while not run.done:
            _advance(spec, run, step, batches, evaluate)
            bar.update(1)
            if run.last_train:
                bar.set_postfix(loss=f"{run.last_train.get('train_loss', math.nan):.4g}", refresh=False)
            if spec.checkpoint_path is not None and (run.done or _due(run.step, spec.checkpoint_every, -1)):
                _save(spec, run, state)
    return TrainResult(
        metrics=_final_metrics(run),
        history=run.history,
        diverged_at_step=run.diverged_at_step,
        steps_completed=run.step,
        resumed_from=resumed_from,
        wall_seconds=time.perf_counter() - start,
        last_eval=run.last_eval,
    )
