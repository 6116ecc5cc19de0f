"""One BYOL/SimSiam run on images: data, training through the shared engine, eigen-tracking, linear probe.

The run id names the method, the predictor variant and the seed, e.g. ``byol_directpred_freq5_s1``
(directpred.md §5.5). Eigen-tracking (Fig. 2) is the engine's ``evaluate`` hook: every ``track_every`` steps
it records the top eigenvalues of F̂ and, for linear predictors, u_jᵀW_p u_j, cos(W_p u_j, u_j), the
asymmetry of W_p and the normalised commutator. The probe runs once, after training, on frozen features.
"""

from __future__ import annotations

import re
from dataclasses import fields
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
from pipeline.directpred.probe import features, linear_probe
from pipeline.directpred.spectrum import alignment
from pipeline.models import build_model

VARIANT = re.compile(r"^(linear|twolayer|directpred)(?:_freq(\d+))?$")


def parse_variant(variant: str) -> tuple[str, int]:
    """``directpred_freq5`` → ("directpred", 5); ``linear`` → ("linear", 1)."""
    match = VARIANT.match(variant)
    if match is None:
        raise ValueError(f"unknown predictor variant {variant!r}: use linear, twolayer, directpred[_freqN]")
    return match.group(1), int(match.group(2) or 1)


def ssl_config(ssl: dict[str, Any], method: str, variant: str) -> SSLConfig:
    """The :class:`SSLConfig` of one run from the ``ssl`` config section."""
    predictor, freq = parse_variant(variant)
    names = {f.name for f in fields(SSLConfig)}
    base = {k: v for k, v in ssl.items() if k in names}
    return SSLConfig(**{**base, "method": method, "predictor": predictor, "freq": freq})


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float images in [0, 1] resized to ``size`` (area averaging when shrinking; documented downsampling)."""
    x = to_float(x)
    return x if x.shape[-1] == size else functional.interpolate(x, size=(size, size), mode="area")


def load_images(
    ssl: dict[str, Any], data_root: str, seed: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """SSL/probe-train, validation and test splits; the subsets are fixed by the base seed, not the run."""
    bundle = load_dataset(ssl["dataset"], data_root=data_root)
    x, y = bundle.xy("train")
    x_test, y_test = bundle.xy("test")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(derive_seed(seed, "subset")))
    n_train, n_val = ssl["n_train"], ssl["n_val"]
    if n_train + n_val > len(x):
        raise ValueError(f"directpred.ssl: n_train + n_val = {n_train + n_val} > {len(x)} training images")
    train_idx, val_idx = order[:n_train], order[n_train : n_train + n_val]
    size = ssl["image_size"]
    n_test = min(ssl["n_test"], len(x_test))
    return {
        "train": (_resize(x[train_idx], size), y[train_idx]),
        "val": (_resize(x[val_idx], size), y[val_idx]),
        "test": (_resize(x_test[:n_test], size), y_test[:n_test]),
    }


def augmentation(ssl: dict[str, Any]) -> SSLAugment:
    """``gray``: crop, flip, brightness/contrast jitter, noise (§5.5); ``cifar10``/``stl10``: the code's."""
    if ssl["augment"] == "cifar10":
        return CIFAR10_SSL
    if ssl["augment"] == "stl10":
        return STL10_SSL
    j = ssl["jitter"]
    return SSLAugment(
        size=None,
        crop_scale=tuple(ssl["crop_scale"]),
        jitter=(j, j, 0.0, 0.0),
        jitter_p=0.8,
        noise_std=ssl["noise_std"],
    )


def make_encoder(ssl: dict[str, Any], in_channels: int) -> tuple[torch.nn.Module, int]:
    """``small_cnn`` (BatchNorm, widths ``channels``) or ``resnet18_cifar`` (paper scale), without a head."""
    if ssl["encoder"] == "small_cnn":
        net = build_model(
            "small_cnn", in_channels=in_channels, num_classes=0, channels=tuple(ssl["channels"]), norm="batch"
        )
    else:
        net = build_model(ssl["encoder"], in_channels=in_channels, num_classes=0)
    return net, net.feature_dim


def run(
    ssl: dict[str, Any],
    method: str,
    variant: str,
    seed: int,
    *,
    device: str,
    data_root: str,
    base_seed: int,
    checkpoint_path,
    checkpoint_every: int,
) -> tuple[dict[str, Any], Any]:
    """Train, track and probe one run; returns (metrics, history DataFrame)."""
    cfg = ssl_config(ssl, method, variant)
    data = load_images(ssl, data_root, base_seed)
    seed_everything(seed, device=device)
    in_channels = data["train"][0].shape[1]

    def make_net() -> SSLNet:
        encoder, feature_dim = make_encoder(ssl, in_channels)
        return SSLNet(encoder, feature_dim, cfg.proj_hidden, cfg.proj_dim)

    step = SSLStep(cfg, make_net, augmentation(ssl), seed, device)
    x_ssl = torch.cat([data["train"][0], data["val"][0]]).to(device)
    batches = TensorBatches(x_ssl, batch_size=ssl["batch_size"], seed=seed)

    def track() -> dict[str, float]:
        return {
            f"eig_{k}": v
            for k, v in alignment(step.estimator.F, step.predictor_weight(), ssl["track_top_k"]).items()
        }

    spec = TrainSpec(
        steps=ssl["steps"],
        seed=seed,
        eval_every=ssl["track_every"],
        log_every=ssl["track_every"],
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        desc=f"{method}_{variant}",
    )
    result = train(spec, step, batches, state={"ssl": step}, evaluate=track)
    metrics: dict[str, Any] = {"method": method, "variant": variant, "seed": seed, **result.metrics}
    if not result.diverged:
        encoder = step.online.encoder
        feats = {name: (features(encoder, x, lambda v: v), y) for name, (x, y) in data.items()}
        metrics |= linear_probe(
            feats["train"], feats["val"], feats["test"], ssl["probe_weight_decays"], ssl["probe_iters"]
        )
    k = ssl["align_top_k"]
    cosines = [result.last_eval.get(f"eig_cos{j}") for j in range(k)]
    metrics["align_top_k"] = k
    metrics["align_cos_top_k"] = sum(cosines) / k if all(c is not None for c in cosines) else None
    return metrics, result.history_frame()
