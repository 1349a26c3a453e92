"""Image parameterizations: what the optimizer changes, and how it becomes an image.

``fourier`` is lucid's decorrelated Fourier-space image (the spectrum scaled by
1/frequency, colours decorrelated with lucid's ImageNet colour matrix, then a
sigmoid), the same maths as :func:`lucent.optvis.param.image` with
``fft=True``; ``pixel`` is the same without the spectrum; ``prior`` decodes
latent codes with a generator trained on MNIST (:mod:`.prior`). A one-channel model
gets a greyscale image (no colour decorrelation). Every constant (frequency
scale, colour matrix) is built once on the model's device; the per-step work
is one inverse FFT, one 3x3 colour mix and a sigmoid.

Every kind starts near a plain image of value ``start`` (the sigmoid's
offset; a number, one per colour channel, or an ``(N, C, 1, 1)`` tensor, one
per image; 0.5 grey when not given).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
import numpy as np
import torch

from ..errors import unknown_name
from . import prior as prior_mod

__all__ = ["COLOR_CORRELATION", "KINDS", "PLAIN_IMAGE", "Param", "baseline_images", "baseline_name", "fingerprint", "fourier", "make", "pixel"]

Param = tuple[list[torch.Tensor], Callable[[], torch.Tensor]]
Kind = Literal["fourier", "pixel", "prior"]
#: ``builder(shape, *, generator, device, start) -> Param``.
Builder = Callable[..., Param]
Start = float | tuple[float, ...] | torch.Tensor | None

#: lucid's square root of the ImageNet colour covariance, columns scaled to unit max norm.
_SVD_SQRT = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_CORRELATION = _SVD_SQRT / np.max(np.linalg.norm(_SVD_SQRT, axis=0))


def _randn(shape: tuple[int, ...], sd: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    # drawn on the CPU so that a seed gives the same start on every device
    return (torch.randn(shape, generator=generator) * sd).to(device).requires_grad_(True)


def _offset(start: Start, channels: int, device: torch.device | str) -> torch.Tensor | float:
    """The sigmoid's input offset that makes a zero parameter the plain image ``start``."""
    if start is None:
        return 0.0
    values = torch.as_tensor(start, dtype=torch.float32)
    if values.dim() < 4:  # one value per colour channel (or one for all)
        values = values.flatten().expand(channels).view(1, channels, 1, 1)
    return torch.logit(values.clamp(1e-3, 1 - 1e-3)).to(device)


def _to_valid(image: torch.Tensor, offset: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Decorrelated colour (or grey) -> pixels in [0, 1]."""
    if image.shape[1] == 3:
        mix = torch.as_tensor(COLOR_CORRELATION, device=image.device, dtype=image.dtype)
        image = (mix @ image.flatten(2)).view_as(image)
    return torch.sigmoid(image + offset)


def fourier(
    shape: tuple[int, int, int, int],
    *,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    sd: float = 0.01,
    decay_power: float = 1.0,
    start: Start = None,
) -> Param:
    """Lucid's Fourier parameterization for ``(N, C, H, W)`` images in [0, 1]."""
    n, c, h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    # lucid's 1/f scale, and the /4 "magic" constant of lucid and lucent folded in
    scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power / 4.0
    scale_t = torch.tensor(scale, dtype=torch.float32, device=device)[None, None, :, :, None]
    spectrum = _randn((n, c, h, w // 2 + 1, 2), sd, generator, torch.device(device))
    offset = _offset(start, c, device)

    def image() -> torch.Tensor:
        z = torch.view_as_complex(spectrum * scale_t)
        return _to_valid(torch.fft.irfft2(z, s=(h, w), norm="ortho"), offset)

    return [spectrum], image


def pixel(
    shape: tuple[int, int, int, int],
    *,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    sd: float = 0.01,
    start: Start = None,
) -> Param:
    """Plain pixels (decorrelated colour, sigmoid), as lucent's ``param.image(fft=False)``."""
    p = _randn(tuple(shape), sd, generator, torch.device(device))
    offset = _offset(start, shape[1], device)
    return [p], lambda: _to_valid(p, offset)


#: Every parameterization by name: ``builder(shape, *, generator, device, start) -> Param``.
_BUILDERS: dict[str, Builder] = {"fourier": fourier, "pixel": pixel, "prior": prior_mod.prior}
KINDS = tuple(_BUILDERS)
#: What identifies a parameterization's pictures beyond its name (learned weights), for cache keys.
_FINGERPRINTS: dict[str, Callable[[], str]] = {"prior": prior_mod.fingerprint}
#: What a render through a parameterization that cannot draw a flat image must beat (see baseline_images),
#: and its name in captions; the others must beat a plain image.
_BASELINES: dict[str, Callable[..., torch.Tensor]] = {"prior": prior_mod.random_digits}
_BASELINE_NAMES = {"prior": "the best of 256 random digits the prior draws"}
#: What every other render must beat (the higher of grey and the mean input), in words.
PLAIN_IMAGE = "a plain image"


def _check(kind: str) -> None:
    if kind not in _BUILDERS:
        raise unknown_name("parameterization", kind, KINDS, hint="Choose it with --param KIND.")


def make(
    kind: Kind,
    shape: tuple[int, int, int, int],
    *,
    generator: torch.Generator,
    device: torch.device | str,
    start: Start = None,
) -> Param:
    """The parameterization called ``kind`` (one of :data:`KINDS`) for ``(N, C, H, W)`` images,
    starting near the plain image ``start`` (a learned prior starts at random codes instead)."""
    _check(kind)
    return _BUILDERS[kind](shape, generator=generator, device=device, start=start)


def fingerprint(kind: Kind) -> str:
    """``kind``, plus a digest of its weights for learned parameterizations (cache keys)."""
    _check(kind)
    return _FINGERPRINTS.get(kind, lambda: kind)()


def baseline_images(kind: Kind, device: torch.device | str) -> torch.Tensor | None:
    """``(K, C, H, W)`` images a render through ``kind`` must beat under its objective (the best of
    them), when ``kind`` cannot draw the flat grey and mean-input images every other render is
    measured against: the learned prior's random digits. ``None`` for the kinds that can."""
    _check(kind)
    builder = _BASELINES.get(kind)
    return builder(device) if builder is not None else None


def baseline_name(kind: Kind) -> str:
    """What a render through ``kind`` must beat, in words: ``a plain image`` for all but the learned prior."""
    _check(kind)
    return _BASELINE_NAMES.get(kind, PLAIN_IMAGE)
