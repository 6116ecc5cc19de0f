"""Batched image augmentations on tensors, on the training device, reproducible from a torch.Generator.

Every function takes a float batch ``[N, C, H, W]`` in [0, 1] (see :func:`pipeline.data.transforms.to_float`)
and a ``torch.Generator`` on the batch's device, draws one set of parameters per image and returns a new
batch; the same generator state gives the same output. Semantics follow torchvision's transforms, with
these documented differences, all made so that a whole batch is one tensor program:

- RandomResizedCrop draws the area fraction and log aspect ratio once and clips the box to the image
  (torchvision retries up to 10 times, then centre-crops); resizing is bilinear without antialiasing;
- ColorJitter applies brightness, contrast, saturation, hue in that fixed order (torchvision shuffles the
  order per call); on one-channel images only brightness and contrast apply;
- Gaussian blur draws sigma per image and uses reflect padding, as torchvision does.

:class:`SSLAugment` composes them into the BYOL/SimSiam view pipeline (DirectPred paper, App. C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional

from pipeline.data.transforms import CIFAR10_MEAN, CIFAR10_STD, normalize, to_float

_GRAY = (0.2989, 0.587, 0.114)  # torchvision.transforms.v2.functional.rgb_to_grayscale


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device) * (high - low) + low


def _bernoulli(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device) < p


def _where(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), new, old)


def random_resized_crop(
    x: torch.Tensor,
    size: int | tuple[int, int],
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Crop a random box (area fraction in ``scale``, aspect ``ratio``) of each image; resize to ``size``."""
    n = x.shape[0]
    out_h, out_w = (size, size) if isinstance(size, int) else size
    area = _uniform(n, *scale, generator)
    log_ratio = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator)
    width = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)
    height = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)
    centre_x = (1 - width) * torch.rand(n, generator=generator, device=generator.device) + width / 2
    centre_y = (1 - height) * torch.rand(n, generator=generator, device=generator.device) + height / 2
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = width, 2 * centre_x - 1
    theta[:, 1, 1], theta[:, 1, 2] = height, 2 * centre_y - 1
    grid = functional.affine_grid(theta, [n, x.shape[1], out_h, out_w], align_corners=False)
    return functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def horizontal_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    return _where(_bernoulli(x.shape[0], p, generator), x.flip(-1), x)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and crop back to the input size at a random offset (CIFAR's crop, pad 4)."""
    n, _, height, width = x.shape
    padded = functional.pad(x, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device)
    rows = (top.view(n, 1) + torch.arange(height, device=x.device)).view(n, 1, height, 1)
    cols = (left.view(n, 1) + torch.arange(width, device=x.device)).view(n, 1, 1, width)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channels = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    return padded[batch, channels, rows, cols]


def random_rotation(x: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image by an angle drawn from [-degrees, degrees] about its centre; corners fill with 0."""
    n = x.shape[0]
    angle = _uniform(n, -degrees, degrees, generator) * (math.pi / 180)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, 0 * cos], 1), torch.stack([sin, cos, 0 * cos], 1)], 1)
    grid = functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images with torchvision's weights (0.2989, 0.587, 0.114), repeated over 3 channels."""
    weights = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True).expand_as(x)


def random_grayscale(x: torch.Tensor, generator: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """Replace each RGB image by its grayscale version with probability ``p``."""
    return _where(_bernoulli(x.shape[0], p, generator), grayscale(x), x)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """HSV (each in [0, 1]) of RGB images ``[N, 3, H, W]``."""
    red, green, blue = x.unbind(1)
    maxc, minc = x.max(1).values, x.min(1).values
    same = maxc == minc
    chroma = maxc - minc
    saturation = chroma / torch.where(same, torch.ones_like(maxc), maxc)
    divisor = torch.where(same, torch.ones_like(chroma), chroma)
    rc, gc, bc = (maxc - red) / divisor, (maxc - green) / divisor, (maxc - blue) / divisor
    hue_r = (maxc == red) * (bc - gc)
    hue_g = ((maxc == green) & (maxc != red)) * (2.0 + rc - bc)
    hue_b = ((maxc != green) & (maxc != red)) * (4.0 + gc - rc)
    hue = torch.fmod((hue_r + hue_g + hue_b) / 6.0 + 1.0, 1.0)
    return torch.stack((hue, saturation, maxc), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """RGB images from HSV ``[N, 3, H, W]``."""
    hue, saturation, value = x.unbind(1)
    sector = torch.floor(hue * 6.0)
    frac = hue * 6.0 - sector
    index = (sector.to(torch.int64) % 6).unsqueeze(1)
    p = (value * (1.0 - saturation)).clamp(0.0, 1.0)
    q = (value * (1.0 - saturation * frac)).clamp(0.0, 1.0)
    t = (value * (1.0 - saturation * (1.0 - frac))).clamp(0.0, 1.0)
    table = ((value, q, p, p, t, value), (t, value, value, q, p, p), (p, p, t, value, value, q))
    return torch.cat([torch.stack(row, 1).gather(1, index) for row in table], 1)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    factor = factor.view(-1, 1, 1, 1)
    return (factor * a + (1 - factor) * b).clamp(0.0, 1.0)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Multiply each image by its factor, clamped to [0, 1]."""
    return _blend(x, torch.zeros_like(x), factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with the mean of its grayscale version."""
    luma = grayscale(x)[:, :1] if x.shape[1] == 3 else x
    return _blend(x, luma.mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each RGB image with its grayscale version."""
    return _blend(x, grayscale(x), factor)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each RGB image by ``shift`` (a fraction of the colour circle, in [-0.5, 0.5])."""
    hsv = rgb_to_hsv(x)
    hue = torch.remainder(hsv[:, 0] + shift.view(-1, 1, 1), 1.0)
    return hsv_to_rgb(torch.stack((hue, hsv[:, 1], hsv[:, 2]), 1))


def color_jitter(
    x: torch.Tensor,
    generator: torch.Generator,
    strength: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
    p: float = 0.8,
) -> torch.Tensor:
    """With probability ``p`` per image, jitter (brightness, contrast, saturation, hue) by ``strength``."""
    n = x.shape[0]
    brightness, contrast, saturation, hue = strength
    apply = _bernoulli(n, p, generator)
    out = adjust_brightness(x, _uniform(n, max(0.0, 1 - brightness), 1 + brightness, generator))
    out = adjust_contrast(out, _uniform(n, max(0.0, 1 - contrast), 1 + contrast, generator))
    if x.shape[1] == 3:
        out = adjust_saturation(out, _uniform(n, max(0.0, 1 - saturation), 1 + saturation, generator))
        out = adjust_hue(out, _uniform(n, -hue, hue, generator))
    return _where(apply, out, x)


def gaussian_blur(
    x: torch.Tensor,
    generator: torch.Generator,
    kernel_size: int = 9,
    sigma: tuple[float, float] = (0.1, 2.0),
    p: float = 1.0,
) -> torch.Tensor:
    """With probability ``p`` per image, blur with a separable Gaussian of sigma drawn from ``sigma``."""
    n, channels, height, width = x.shape
    apply = _bernoulli(n, p, generator)
    sigmas = _uniform(n, *sigma, generator)
    offsets = torch.arange(kernel_size, device=x.device, dtype=x.dtype) - (kernel_size - 1) / 2
    kernel = torch.exp(-0.5 * (offsets.view(1, -1) / sigmas.view(-1, 1).to(x.dtype)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(channels, 0)
    half = kernel_size // 2
    flat = functional.pad(x.reshape(1, n * channels, height, width), (half, half, half, half), mode="reflect")
    flat = functional.conv2d(flat, kernel.view(-1, 1, 1, kernel_size), groups=n * channels)
    flat = functional.conv2d(flat, kernel.view(-1, 1, kernel_size, 1), groups=n * channels)
    return _where(apply, flat.view(n, channels, height, width), x)


@dataclass(frozen=True)
class SSLAugment:
    """One random view for BYOL/SimSiam: crop, flip, colour jitter, grayscale, optional blur and noise.

    ``size=None`` keeps the input size. The defaults are the CIFAR-10 recipe of the DirectPred code;
    :data:`CIFAR10_SSL` also normalises with the CIFAR-10 channel statistics and :data:`STL10_SSL` adds the
    always-on blur and no normalisation (the official DirectPred code, behind Table 8). Colour jitter and grayscale act on RGB only,
    except that brightness and contrast also act on one-channel images. :meth:`plain` is the
    un-augmented view (float, normalised like the views) that a linear probe reads.
    """

    size: int | None = None
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    blur_kernel: int = 9
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    noise_std: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as float in [0, 1], then normalised by ``mean``/``std`` when set (no randomness)."""
        x = to_float(x)
        return x if self.mean is None else normalize(x, self.mean, self.std or ())

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """An augmented float view of the batch ``x`` (uint8 or float)."""
        x = to_float(x)
        x = random_resized_crop(x, self.size or tuple(x.shape[-2:]), generator, scale=self.crop_scale)
        x = horizontal_flip(x, generator, self.flip_p)
        if self.jitter_p > 0:
            x = color_jitter(x, generator, self.jitter, self.jitter_p)
        if x.shape[1] == 3 and self.grayscale_p > 0:
            x = random_grayscale(x, generator, self.grayscale_p)
        if self.blur_p > 0:
            x = gaussian_blur(x, generator, self.blur_kernel, self.blur_sigma, self.blur_p)
        if self.noise_std > 0:
            noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
            x = x + self.noise_std * noise
        return x if self.mean is None else normalize(x, self.mean, self.std or ())


CIFAR10_SSL = SSLAugment(size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD)
STL10_SSL = SSLAugment(size=96, jitter=(0.8, 0.8, 0.8, 0.2), blur_p=1.0, blur_kernel=9)
