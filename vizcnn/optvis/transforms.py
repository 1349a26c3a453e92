"""Transformation robustness as one batched affine warp per step.

Lucid's standard chain is pad 12, jitter 8, random scale ``1 + (i - 5) / 50``,
random rotation of -10..10 degrees, jitter 4. lucent runs it as five separate
passes (three of them kornia warps). All five are affine maps, so here they
are composed into one matrix per image and applied with a single
``affine_grid`` + ``grid_sample`` for the whole batch. Every random choice for
every step is drawn up front from the render's seed; each image in the batch
gets its own shifts, scale and rotation. Outside the image the fill is the
model's mean input (what normalizes to zero: near lucid's constant grey 0.5
for ImageNet models, black for MNIST digits, where grey would be a strong
false edge; on mnist-cnn this raised the mean final objective of conv3 and
conv4 channels by 16% and 32% at 64 steps). The warped canvas is sampled at the
image's own size, as lucent does with ``fixed_image_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Transforms", "light", "standard"]


@dataclass(frozen=True)
class Transforms:
    """Lucid-style robustness settings, in pixels and degrees.

    Attributes:
        pad: border around the image on the canvas (filled as :meth:`Plan.apply` says).
        jitter: first random shift, ``0..jitter-1`` pixels (centred) each way.
        scales: random scale factors about the centre.
        angles: random rotation angles in degrees (repeats weight a value).
        jitter2: the final random shift.
    """

    pad: int = 12
    jitter: int = 8
    scales: tuple[float, ...] = tuple(1 + (i - 5) / 50 for i in range(11))
    angles: tuple[float, ...] = tuple(range(-10, 11)) + (0,) * 5
    jitter2: int = 4

    def plan(self, steps: int, batch: int, size: int, generator: torch.Generator, device: torch.device) -> Plan:
        """Draw every step's random transform now, as a ``(steps, N, 2, 3)`` theta for ``affine_grid``.

        The chain places the ``size`` px image on a ``size + 2 * pad`` canvas
        (shifted, scaled about the centre, rotated, shifted); like lucent's
        ``render_vis(..., fixed_image_size=size)`` the canvas is then resampled
        to ``size`` px, so the network always sees ``size`` x ``size`` inputs
        (and fixed-size networks such as the MNIST models work). In normalized
        coordinates that last resize is free: the same theta, sampled on a
        ``size`` grid.
        """
        g = generator
        scales = torch.tensor(self.scales, dtype=torch.float64)[
            torch.randint(len(self.scales), (steps, batch), generator=g)
        ]
        angles = torch.tensor(self.angles, dtype=torch.float64)[
            torch.randint(len(self.angles), (steps, batch), generator=g)
        ]
        shift = lambda d: (torch.randint(max(d, 1), (steps, batch, 2), generator=g) - (max(d, 1) - 1) // 2).double()
        d1, d2 = shift(self.jitter), shift(self.jitter2)
        q = size + 2 * self.pad
        # canvas pixel o -> source pixel: c + Rot(o - d2 - cq) / s - d1, with cq = (Q - 1) / 2, c = (S - 1) / 2
        rad = angles * math.pi / 180
        cos, sin = torch.cos(rad), torch.sin(rad)
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2) / scales[..., None, None]
        t = (size - 1) / 2 - d1 - (rot @ (d2 + (q - 1) / 2).unsqueeze(-1)).squeeze(-1)
        # pixels -> normalized coordinates (align_corners=False): n = (2 p + 1) / L - 1 on both sides
        a = rot * (q / size)
        b = (2 * (t + (rot @ torch.full((2, 1), (q - 1) / 2, dtype=torch.float64)).squeeze(-1)) + 1) / size - 1
        return Plan(torch.cat([a, b.unsqueeze(-1)], -1).float().to(device), size)


@dataclass(frozen=True)
class Plan:
    """Precomputed transforms for a render: ``theta[step]``, output ``size`` px."""

    theta: torch.Tensor
    size: int

    def apply(self, images: torch.Tensor, step: int, fill: float | torch.Tensor = 0.5) -> torch.Tensor:
        """Warp ``(N, C, H, W)`` images in [0, 1] with step ``step``'s transform -> ``(N, C, size, size)``.

        ``fill`` (a number or a ``(1, C, 1, 1)`` tensor) is the value outside the image.
        """
        n, c = images.shape[:2]
        grid = F.affine_grid(self.theta[step], [n, c, self.size, self.size], align_corners=False)
        return F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def standard(size: int) -> Transforms:
    """Lucid's standard settings for images of ``size`` >= 128 px, shifts and padding scaled down below."""
    k = min(1.0, size / 128)
    return Transforms(pad=max(1, round(12 * k)), jitter=max(1, round(8 * k)), jitter2=max(1, round(4 * k)))


def light(size: int, jitter: int | None = None) -> Transforms:
    """Fewer and smaller transforms for small (MNIST-sized) images: pad 1, a shift of up to
    ``jitter`` px (default 4 at 28 px, scaled with the size), scale 0.95-1.05, rotation -5..5
    degrees, no second shift. On mnist-cnn's class renders lenet read 27 of 30 as their class
    with these, 25 of 30 with lucid's standard ones (scaled to 28 px) and 22 of 30 with none."""
    jitter = max(1, round(4 * size / 28)) if jitter is None else jitter
    return Transforms(
        pad=max(1, round(size / 28)), jitter=jitter, scales=tuple(1 + (i - 2) / 40 for i in range(5)),
        angles=tuple(range(-5, 6)), jitter2=1,
    )  # fmt: skip
