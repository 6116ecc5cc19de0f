"""One BYOL/SimSiam run on images: data, training through the shared engine, eigen-tracking, linear probe;
and the probe baselines (the untrained encoder, raw pixels).

The run's spec (:class:`pipeline.directpred.runs.SSLRun`) names the dataset, the method, the predictor
variant and the seed index, e.g. ``fashion_mnist_byol_directpred_freq5_s1`` (docs/directpred.md); ``ssl``
here is that dataset's settings (:class:`~pipeline.directpred.runs.SSLSettings`: the ``ssl`` section with
its ``per_dataset`` overrides applied). Eigen-tracking (Fig. 2) is the engine's ``evaluate``
hook: every ``track_every`` steps it records the top eigenvalues of F̂ and, for linear predictors,
u_jᵀW_p u_j, cos(W_p u_j, u_j), the mean cosine over the eigenvectors whose eigenvalue is at least
``align_rel_eig`` times the largest (the alignment claim's quantity), the asymmetry of W_p and the
normalised commutator. The probe runs once, after training, on frozen features.

A baseline (:class:`~pipeline.directpred.runs.BaselineRun`) probes the same splits without any SSL step:
``untrained`` builds the encoder of seed index k exactly as the SSL runs of that seed index do (same
seed, same construction order, weights and batch-norm buffers as initialised), so that trained minus
untrained is a paired difference; ``pixels`` probes the plain images, flattened.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional

from pipeline.core.engine import TrainSpec, train
from pipeline.core.seeding import derive_seed, seed_everything
from pipeline.data import load_dataset
from pipeline.data.augment import CIFAR10_SSL, STL10_SSL, SSLAugment
from pipeline.data.batches import TensorBatches
from pipeline.data.transforms import to_float
from pipeline.directpred.byol import SSLConfig, SSLNet, SSLStep
from pipeline.directpred.probe import features, run_probe
from pipeline.directpred.runs import BaselineRun, SSLRun, SSLSettings, parse_variant
from pipeline.directpred.spectrum import alignment, asymmetry
from pipeline.models import build_model

PROBE = ("train", "val", "test")  # the probe's splits, all labelled


def ssl_config(ssl: SSLSettings, method: str, variant: str) -> SSLConfig:
    """The :class:`SSLConfig` of one run from its dataset's SSL settings and its predictor variant."""
    parsed = parse_variant(variant)
    names = {f.name for f in fields(SSLConfig)}
    base = {k: v for k, v in asdict(ssl).items() if k in names}
    return SSLConfig(
        **{
            **base,
            "method": method,
            "predictor": parsed.predictor,
            "freq": parsed.freq,
            "symmetric_predictor": ssl.symmetric_predictor or parsed.symmetric,
            "ema": 0.0 if parsed.no_ema else ssl.ema,
            "pred_lr_ratio": parsed.alpha_p,
        }
    )


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images at ``size`` x ``size``: unchanged (uint8 stays uint8) when already that size, else float in
    [0, 1] resized by area averaging (documented downsampling of Fashion-MNIST 28 -> 16)."""
    if x.shape[-1] == size:
        return x
    return functional.interpolate(to_float(x), size=(size, size), mode="area")


def _unlabeled(bundle, count: int, size: int, seed: int) -> torch.Tensor | None:
    """``count`` images of the bundle's unlabeled split (all for -1, none for 0), a fixed random subset."""
    if count == 0:
        return None
    if "unlabeled_x" not in bundle.tensors:
        raise ValueError(
            f"directpred.ssl.unlabeled = {count}, but {bundle.name} has no unlabeled split "
            "(only stl10 does); set unlabeled: 0"
        )
    x = bundle.tensors["unlabeled_x"]
    if count > len(x):
        raise ValueError(f"directpred.ssl.unlabeled = {count} > {len(x)} unlabeled {bundle.name} images")
    if 0 < count < len(x):
        generator = torch.Generator().manual_seed(derive_seed(seed, "unlabeled"))
        x = x[torch.randperm(len(x), generator=generator)[:count]]
    return _resize(x, size)


def load_images(dataset: str, ssl: Any, data_root: str | Path, seed: int) -> dict[str, Any]:
    """The probe's ``train``/``val``/``test`` (images, labels) and the SSL training images ``ssl``.

    The probe splits come from the labelled data only: ``n_train`` + ``n_val`` training images (a fixed
    subset drawn from the base seed, not the run's; ``n_train`` −1: every one not held out for ``val``)
    and the first ``n_test`` test images. The SSL set is
    the probe's train and val images plus ``unlabeled`` images of the unlabeled split (STL-10's 100k:
    train+unlabeled, as in the official code); labels are never used for SSL and the test set never is.
    Images keep their stored dtype (uint8 for STL-10/CIFAR-10) so that 105k STL-10 images take 2.9 GB,
    not 11.6 GB; the augmentation converts each batch. ``ssl`` is an
    :class:`~pipeline.directpred.runs.SSLSettings` or, for a baseline (no unlabeled images), a
    :class:`~pipeline.directpred.runs.BaselineSettings`.
    """
    bundle = load_dataset(dataset, data_root=data_root)
    x, y = bundle.xy("train")
    x_test, y_test = bundle.xy("test")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(derive_seed(seed, "subset")))
    n_val = ssl.n_val
    n_train = len(x) - n_val if ssl.n_train < 0 else ssl.n_train
    if n_train + n_val > len(x):
        raise ValueError(
            f"directpred.ssl ({dataset}): n_train + n_val = {n_train + n_val} > {len(x)} labelled "
            "training images"
        )
    train_idx, val_idx = order[:n_train], order[n_train : n_train + n_val]
    size = ssl.image_size
    n_test = min(ssl.n_test, len(x_test))
    splits = {
        "train": (_resize(x[train_idx], size), y[train_idx]),
        "val": (_resize(x[val_idx], size), y[val_idx]),
        "test": (_resize(x_test[:n_test], size), y_test[:n_test]),
    }
    extra = _unlabeled(bundle, getattr(ssl, "unlabeled", 0), size, seed)
    ssl_images = [splits["train"][0], splits["val"][0]] + ([] if extra is None else [extra])
    return {**splits, "ssl": torch.cat(ssl_images)}  # one dtype: every part went through _resize


def augmentation(ssl: SSLSettings) -> SSLAugment:
    """``gray``: crop, flip, brightness/contrast jitter, noise; ``cifar10``/``stl10``: the code's."""
    if ssl.augment == "cifar10":
        return CIFAR10_SSL
    if ssl.augment == "stl10":
        return STL10_SSL
    j = ssl.jitter
    return SSLAugment(
        size=None,
        crop_scale=tuple(ssl.crop_scale),
        jitter=(j, j, 0.0, 0.0),
        jitter_p=0.8,
        noise_std=ssl.noise_std,
    )


def plain_view(augment: str):
    """The un-augmented view a probe reads: float in [0, 1], normalised as the recipe's views are."""
    return CIFAR10_SSL.plain if augment == "cifar10" else to_float


def make_encoder(ssl: Any, in_channels: int) -> tuple[torch.nn.Module, int]:
    """The SSL encoder without a head: ``small_cnn`` (BatchNorm, widths ``channels``), ``resnet18_cifar``
    or ``resnet18`` (paper scale). ``ssl`` has ``encoder`` and ``channels`` (SSL or baseline settings)."""
    if ssl.encoder == "small_cnn":
        net = build_model(
            "small_cnn", in_channels=in_channels, num_classes=0, channels=tuple(ssl.channels), norm="batch"
        )
    else:
        net = build_model(ssl.encoder, in_channels=in_channels, num_classes=0)
    return net, net.feature_dim


def run(
    spec: SSLRun,
    seed: int,
    *,
    device: str,
    data_root: str | Path,
    base_seed: int,
    checkpoint_path: Path,
) -> tuple[dict[str, Any], Any]:
    """Train, track and probe one run (``seed``: the run's, derived from its seed index; the probe
    subset is drawn from ``base_seed``); returns (metrics, history DataFrame)."""
    ssl, method, variant = spec.ssl, spec.method, spec.variant
    cfg = ssl_config(ssl, method, variant)
    data = load_images(spec.dataset, ssl, data_root, base_seed)
    seed_everything(seed, device=device)
    in_channels = data["train"][0].shape[1]

    def make_net() -> SSLNet:
        encoder, feature_dim = make_encoder(ssl, in_channels)
        return SSLNet(encoder, feature_dim, cfg.proj_hidden, cfg.proj_dim)

    augment = augmentation(ssl)
    step = SSLStep(cfg, make_net, augment, seed, device)
    x_ssl = data["ssl"].to(device)
    batches = TensorBatches(x_ssl, batch_size=ssl.batch_size, seed=seed)

    def track() -> dict[str, float]:
        found = alignment(step.estimator.F, step.predictor_weight(), ssl.track_top_k, ssl.align_rel_eig)
        return {f"eig_{k}": v for k, v in found.items()}

    weight = step.predictor_weight()
    asym_initial = asymmetry(weight.detach().double()) if weight is not None else None

    train_spec = TrainSpec(
        steps=ssl.steps,
        seed=seed,
        eval_every=ssl.track_every,
        log_every=ssl.track_every,
        checkpoint_path=checkpoint_path,
        checkpoint_every=ssl.checkpoint_every,
        desc=f"{method}_{variant}",
    )
    result = train(train_spec, step, batches, state={"ssl": step}, evaluate=track)
    metrics: dict[str, Any] = {
        "dataset": spec.dataset,
        "method": method,
        "variant": variant,
        "seed": seed,
        "ssl_images": len(x_ssl),
        **result.metrics,
    }
    if not result.diverged:
        encoder = step.online.encoder
        feats = {name: (features(encoder, data[name][0], augment.plain), data[name][1]) for name in PROBE}
        metrics |= run_probe(feats["train"], feats["val"], feats["test"], ssl.probe, seed=seed)
    last = result.last_eval
    metrics["align_rel_eig"] = ssl.align_rel_eig
    metrics["align_k"] = last.get("eig_k_rel")
    metrics["align_cos"] = last.get("eig_cos_rel")
    metrics["asym_initial"] = asym_initial
    metrics["asym_final"] = last.get("eig_asym")
    metrics["asym_rel_final"] = last.get("eig_asym_rel")
    return metrics, result.history_frame()


def baseline(
    spec: BaselineRun, seed: int, *, device: str, data_root: str | Path, base_seed: int
) -> dict[str, Any]:
    """The probe of one baseline (``seed``: the one the SSL runs of ``spec.seed_index`` use)."""
    base = spec.base
    data = load_images(spec.dataset, base, data_root, base_seed)
    plain = plain_view(base.augment)
    if spec.features == "pixels":
        feats = {name: (plain(data[name][0]).flatten(1).double(), data[name][1]) for name in PROBE}
    elif spec.features == "untrained":
        seed_everything(seed, device=device)  # as experiment.run: the online encoder is built first
        encoder, _ = make_encoder(base, data["train"][0].shape[1])
        encoder = encoder.to(device)
        feats = {name: (features(encoder, data[name][0], plain), data[name][1]) for name in PROBE}
    else:
        raise ValueError(f"unknown baseline features {spec.features!r}: use untrained or pixels")
    metrics: dict[str, Any] = {"dataset": spec.dataset, "features": spec.features, "seed": seed}
    metrics["feature_dim"] = int(feats["train"][0].shape[1])
    return metrics | run_probe(feats["train"], feats["val"], feats["test"], base.probe, seed=seed)
