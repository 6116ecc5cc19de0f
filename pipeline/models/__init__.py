"""Models: MLP, small CNN, 1-D CNN, CIFAR ResNet-18/-20, VGG-11 without BN, LSTM language model."""

from pipeline.models.registry import MODELS, build_model, count_parameters

__all__ = ["MODELS", "build_model", "count_parameters"]
