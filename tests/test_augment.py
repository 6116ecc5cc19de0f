"""Batched augmentations: reproducible from a generator, per-image parameters, torchvision semantics."""

from __future__ import annotations

import pytest
import torch
from helpers.threads import single_thread  # noqa: F401 (fixture)
from torchvision.transforms.v2 import functional as tvf

from pipeline.data import augment
from pipeline.data.augment import CIFAR10_SSL, STL10_SSL, SSLAugment
from pipeline.data.transforms import normalize, to_float

pytestmark = pytest.mark.usefixtures("single_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(8, 3, 32, 32, generator=gen(42))


def test_ssl_view_is_reproducible_and_per_image(images):
    first, again, other = (
        CIFAR10_SSL(images, gen(1)),
        CIFAR10_SSL(images, gen(1)),
        CIFAR10_SSL(images, gen(2)),
    )
    assert first.shape == images.shape and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
    same = images[:1].expand(8, -1, -1, -1)
    views = CIFAR10_SSL(same, gen(3))
    assert len({tuple(v.flatten()[:50].tolist()) for v in views}) == 8  # different parameters per image


def test_ssl_accepts_uint8_resizes_and_handles_grey():
    raw = torch.randint(0, 256, (4, 3, 96, 96), dtype=torch.uint8, generator=gen(0))
    out = STL10_SSL(raw, gen(0))
    assert out.shape == (4, 3, 96, 96) and float(out.min()) >= 0 and float(out.max()) <= 1
    grey = SSLAugment(size=20, noise_std=0.1)(torch.rand(5, 1, 28, 28), gen(0))
    assert grey.shape == (5, 1, 20, 20)


def test_cifar_views_and_plain_view_are_normalised_by_hand_computed_statistics():
    raw = torch.randint(0, 256, (3, 3, 4, 4), dtype=torch.uint8, generator=gen(5))
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    expected = torch.stack([(raw[:, c].double() / 255 - mean[c]) / std[c] for c in range(3)], 1)
    torch.testing.assert_close(CIFAR10_SSL.plain(raw).double(), expected, atol=1e-5, rtol=0)
    unnormalised = SSLAugment(size=4)(raw, gen(0)).double()  # same random draws, then normalise by hand
    by_hand = torch.stack([(unnormalised[:, c] - mean[c]) / std[c] for c in range(3)], 1)
    view = SSLAugment(size=4, mean=mean, std=std)(raw, gen(0)).double()
    torch.testing.assert_close(view, by_hand, atol=1e-5, rtol=0)
    assert torch.equal(STL10_SSL.plain(raw), raw.float() / 255)  # STL-10 recipe: no normalisation


def test_full_box_crop_is_identity_and_flip_mirrors(images):
    same = augment.random_resized_crop(images, 32, gen(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, images, atol=1e-5, rtol=0)
    flipped = augment.horizontal_flip(images, gen(0), p=1.0)
    assert torch.equal(flipped, images.flip(-1))
    assert torch.equal(augment.horizontal_flip(images, gen(0), p=0.0), images)


def test_random_crop_shifts_within_padding(images):
    assert torch.equal(augment.random_crop(images, 0, gen(0)), images)
    out = augment.random_crop(images, 4, gen(0))
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(len(images)):  # every output is some 32x32 window of the padded image
        windows = padded[i].unfold(1, 32, 1).unfold(2, 32, 1).permute(1, 2, 0, 3, 4).reshape(-1, 3, 32, 32)
        assert any(torch.equal(out[i], w) for w in windows)


def test_colour_ops_match_torchvision(images):
    factors = torch.linspace(0.6, 1.4, len(images))
    shifts = torch.linspace(-0.1, 0.1, len(images))
    for i, img in enumerate(images):
        torch.testing.assert_close(
            augment.adjust_brightness(img[None], factors[i : i + 1])[0],
            tvf.adjust_brightness(img, float(factors[i])),
        )
        torch.testing.assert_close(
            augment.adjust_contrast(img[None], factors[i : i + 1])[0],
            tvf.adjust_contrast(img, float(factors[i])),
        )
        torch.testing.assert_close(
            augment.adjust_saturation(img[None], factors[i : i + 1])[0],
            tvf.adjust_saturation(img, float(factors[i])),
        )
        torch.testing.assert_close(
            augment.adjust_hue(img[None], shifts[i : i + 1])[0],
            tvf.adjust_hue(img, float(shifts[i])),
            atol=1e-5,
            rtol=0,
        )
    torch.testing.assert_close(augment.grayscale(images), tvf.rgb_to_grayscale(images, 3))
    torch.testing.assert_close(augment.hsv_to_rgb(augment.rgb_to_hsv(images)), images, atol=1e-5, rtol=0)


def test_blur_keeps_constant_images_and_smooths(images):
    constant = torch.full((2, 3, 16, 16), 0.3)
    torch.testing.assert_close(augment.gaussian_blur(constant, gen(0)), constant)
    blurred = augment.gaussian_blur(images, gen(0), sigma=(1.5, 2.0))
    assert blurred.var() < images.var()
    assert torch.equal(augment.gaussian_blur(images, gen(0), p=0.0), images)


def test_rotation_and_probabilities(images):
    torch.testing.assert_close(augment.random_rotation(images, 0.0, gen(0)), images, atol=1e-5, rtol=0)
    assert torch.equal(augment.color_jitter(images, gen(0), p=0.0), images)
    grey = augment.random_grayscale(images, gen(0), p=1.0)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])


def test_to_float_and_normalize():
    raw = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    assert to_float(raw).tolist() == [[[[0.0, 1.0]]]]
    out = normalize(torch.ones(1, 2, 1, 1), (0.5, 0.0), (0.5, 2.0))
    assert out.flatten().tolist() == [1.0, 0.5]
