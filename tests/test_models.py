"""Every registered model builds on CPU and maps its input to the documented output shape."""

from __future__ import annotations

import pytest
import torch
from helpers.threads import single_thread  # noqa: F401 (fixture)

from pipeline.models import MODELS, build_model, count_parameters
from pipeline.models.layers import NORMS
from pipeline.models.lstm_lm import detach_hidden

pytestmark = pytest.mark.usefixtures("single_thread")

CASES = [
    ("mlp", {"in_features": 64}, (3, 1, 8, 8), (3, 10)),
    ("mlp", {"in_features": 40, "depth": 30, "width": 16, "activation": "relu_sqrt2"}, (3, 40), (3, 10)),
    ("mlp", {"in_features": 8, "depth": 1, "bias": False, "activation": "identity"}, (3, 8), (3, 10)),
    ("small_cnn", {}, (3, 1, 28, 28), (3, 10)),
    ("small_cnn", {"in_channels": 1}, (3, 1, 8, 8), (3, 10)),
    ("small_cnn", {"in_channels": 3, "norm": "group", "num_classes": 0}, (3, 3, 32, 32), (3, 64)),
    ("cnn1d", {}, (3, 40), (3, 10)),
    ("cnn1d", {}, (3, 1, 40), (3, 10)),
    ("resnet18_cifar", {}, (2, 3, 16, 16), (2, 10)),
    ("resnet18_cifar", {"num_classes": 0, "in_channels": 1}, (2, 1, 8, 8), (2, 512)),
    ("resnet18", {"num_classes": 0}, (2, 3, 32, 32), (2, 512)),
    ("resnet20", {}, (2, 3, 16, 16), (2, 10)),
    ("vgg11", {}, (2, 3, 32, 32), (2, 10)),
    ("vgg11", {"hidden": 64, "conv_bias": False}, (2, 3, 40, 40), (2, 10)),
]


@pytest.mark.parametrize(("name", "kwargs", "in_shape", "out_shape"), CASES)
def test_forward_shapes(name, kwargs, in_shape, out_shape):
    torch.manual_seed(0)
    model = build_model(name, **kwargs)
    out = model(torch.randn(in_shape))
    assert out.shape == out_shape and torch.isfinite(out).all()


def test_every_model_has_a_shape_case():
    assert {name for name, *_ in CASES} | {"lstm_lm"} == set(MODELS)


@pytest.mark.parametrize("norm", NORMS)
def test_resnet20_norms(norm):
    model = build_model("resnet20", norm=norm)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    stats = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if norm in ("batch_nostats", "evonorm"):
        assert all(m.running_mean is None for m in stats)
    if norm == "group":
        assert not stats and any(
            isinstance(m, torch.nn.GroupNorm) and m.num_groups == 2 for m in model.modules()
        )


def test_parameter_counts_match_the_architectures():
    assert count_parameters(build_model("cnn1d")) == 32 * 5 + 32 + 2 * (32 * 32 * 3 + 32) + 320 * 10 + 10
    assert count_parameters(build_model("resnet18_cifar")) == 11_173_962
    assert 0.26e6 < count_parameters(build_model("resnet20")) < 0.28e6
    mlp = build_model("mlp", in_features=784, depth=3, width=100, bias=False)
    assert count_parameters(mlp) == 784 * 100 + 100 * 100 + 100 * 10
    vgg = build_model("vgg11", hidden=4096, conv_bias=False)
    assert all(m.bias is None for m in vgg.modules() if isinstance(m, torch.nn.Conv2d))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in vgg.modules())


def test_resnet18_imagenet_stem_matches_torchvision():
    """Same parameter count and layer shapes as torchvision's resnet18 (an independent implementation)."""
    from torchvision.models import resnet18 as reference

    ours, theirs = build_model("resnet18"), reference(num_classes=10)
    assert count_parameters(ours) == count_parameters(theirs) == 11_181_642
    our_shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert our_shapes == sorted(tuple(p.shape) for p in theirs.parameters())
    x = torch.randn(1, 3, 96, 96)
    assert ours.layers(ours.stem(x)).shape == (1, 512, 3, 3)


def test_mlp_has_no_normalisation_by_default():
    mlp = build_model("mlp", in_features=10)
    assert not any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm | torch.nn.LayerNorm) for m in mlp.modules()
    )


@pytest.mark.parametrize("tie", [False, True])
def test_lstm_language_model(tie):
    torch.manual_seed(0)
    model = build_model("lstm_lm", vocab_size=50, emsize=16, nhid=16, nlayers=2, dropout=0.3, tie_weights=tie)
    tokens = torch.randint(0, 50, (7, 4))
    logits, hidden = model(tokens)
    assert logits.shape == (7, 4, 50) and hidden[0].shape == (2, 4, 16) and hidden[1].shape == (2, 4, 16)
    logits2, _ = model(tokens, detach_hidden(hidden))
    assert logits2.shape == logits.shape
    assert (model.decoder.weight is model.encoder.weight) == tie
    names = {name for name, _ in model.named_parameters()}
    assert {"rnn.weight_ih_l0", "rnn.weight_hh_l1"} <= names and model.rnn.weight_hh_l0.shape == (64, 16)
    untied = 50 * 16 + 50 * 16 + 50
    assert count_parameters(model) == count_parameters(model.rnn) + untied - (50 * 16 if tie else 0)


def test_registry_errors():
    with pytest.raises(KeyError, match="unknown model 'resnet50'"):
        build_model("resnet50")
    with pytest.raises(TypeError, match="model 'mlp'"):
        build_model("mlp", in_features=4, widht=3)
    with pytest.raises(ValueError, match="emsize == nhid"):
        build_model("lstm_lm", vocab_size=10, emsize=8, nhid=16, tie_weights=True)
    with pytest.raises(KeyError, match="unknown norm"):
        build_model("resnet20", norm="weird")
