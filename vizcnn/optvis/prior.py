"""A learned image prior for MNIST-sized models: render through a generator's latent space.

Nguyen et al. (2016), "Synthesizing the preferred inputs for neurons via deep
generator networks", and (2017) "Plug & Play Generative Networks" optimize a
generator's latent code instead of pixels, so that every picture stays an
image the generator can draw. Here the generator is the decoder of a small
VAE trained on MNIST digits (``scripts/train_prior.py``), shipped as
``vizcnn/models/weights/mnist-prior.safetensors``. The optimizer changes free
codes ``w`` ``(N, ZDIM)``; the latent is ``z = radius * w / |w|``, a point on
the shell where the training digits' codes lie (``radius``, their median
norm, is saved with the weights). The shell matters: a VAE decodes the codes
near the centre of its latent space, which no digit has, into a grey average
blur, and an unconstrained render of the class "8" ends there (logit 10, no
digit to see). The image is ``decoder(z)`` ``(N, 1, 28, 28)`` in [0, 1]; the
render loop's transforms (jitter, scale, rotation) apply to it as to any other
parameterization.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ..errors import VizcnnError, WeightsNotFoundError
from ..models.weights import load_into, read_state_dict

__all__ = ["IMAGE_SHAPE", "ZDIM", "Decoder", "fingerprint", "load_decoder", "prior", "random_digits", "weights_path"]

#: Latent dimensions and the image the decoder draws.
ZDIM = 16
IMAGE_SHAPE = (1, 28, 28)
#: Environment variable naming another weights file (tests; a retrained prior).
ENV = "VIZCNN_PRIOR_WEIGHTS"
#: Scale of the free codes: Adam's steps at the engine's lr (0.05) move them 0.1 a step;
#: in a trial with a norm bound instead of the shell, lenet read 26 of 30 mnist-cnn class
#: renders right with steps of 0.1, 23 with steps of 0.05.
GAIN = 2.0
_FILE = "mnist-prior.safetensors"
_RETRAIN = "python scripts/train_prior.py"


class Decoder(nn.Module):
    """``z (N, ZDIM)`` -> digits ``(N, 1, 28, 28)`` in [0, 1]: a linear layer to 32x7x7, two
    transposed convolutions up to 28 px, a sigmoid. ``radius`` (a buffer saved with the
    weights) is the latent norm renders keep."""

    def __init__(self, zdim: int = ZDIM, width: int = 16) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Linear(zdim, 2 * width * 7 * 7)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)  # 14x14
        self.up2 = nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1)  # 28x28
        self.act = nn.ReLU()
        self.register_buffer("radius", torch.tensor(float(zdim) ** 0.5))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid pixels ``(N, 1, 28, 28)`` (the VAE's Bernoulli logits)."""
        h = self.act(self.fc(z)).view(-1, 2 * self.width, 7, 7)
        return self.up2(self.act(self.up1(h)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))

    def to_shell(self, w: torch.Tensor) -> torch.Tensor:
        """Free codes ``(N, ZDIM)`` -> latents of norm ``radius``, in the same directions."""
        return w * (self.radius / w.norm(dim=1, keepdim=True).clamp_min(1e-8))


def weights_path() -> Path:
    """The prior's weights: ``$VIZCNN_PRIOR_WEIGHTS`` if set, else the bundled file."""
    env = os.environ.get(ENV)
    return Path(env) if env else Path(str(resources.files("vizcnn.models") / "weights" / _FILE))


def load_decoder(device: torch.device | str = "cpu", path: str | os.PathLike | None = None) -> Decoder:
    """The trained decoder in eval mode on ``device``, parameters frozen.

    Raises:
        WeightsNotFoundError: the weights file is missing.
        VizcnnError: the file cannot be read or does not fit :class:`Decoder`.
    """
    path = Path(path) if path is not None else weights_path()
    fix = f"Reinstall vizcnn, retrain it with `{_RETRAIN}`, or point ${ENV} at a file it wrote"
    if not path.is_file():
        raise WeightsNotFoundError(
            f"the MNIST image prior (--param prior) needs its weights file {str(path)!r}, which does not exist. {fix}."
        )
    net = Decoder()
    try:
        load_into(net, read_state_dict(path), repr(str(path)))
    except VizcnnError as exc:
        raise VizcnnError(f"the MNIST image prior (--param prior) cannot use {str(path)!r}: {exc} {fix}.") from None
    if not (torch.isfinite(net.radius) and net.radius > 0):
        raise VizcnnError(
            f"the MNIST image prior (--param prior) cannot use {str(path)!r}: its latent radius is "
            f"{net.radius.item()}, not a positive number. {fix}."
        )
    return net.eval().requires_grad_(False).to(device)


def fingerprint() -> str:
    """``prior@<sha256 prefix of the weights file>``, for cache keys: a retrained prior is new pictures."""
    path = weights_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"
    return f"prior@{digest}"


def random_digits(device: torch.device | str = "cpu", draws: int = 256) -> torch.Tensor:
    """``draws`` digits ``(draws, 1, 28, 28)`` the prior draws from random codes on the shell (a fixed
    seed): a render through the prior failed if it ends at or below the best of them under its objective
    (optimizing should beat sampling). The flat grey and mean-input squares that other renders must beat
    are nothing the prior can draw, and a flat square is a strong "8" for mnist-cnn (logit 14.8 for grey,
    twice the best test digit's 6.5): against them every class-8 render through the prior would fail."""
    decoder = load_decoder(device)
    codes = torch.randn((draws, ZDIM), generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        return decoder(decoder.to_shell(codes))


def prior(
    shape: tuple[int, int, int, int],
    *,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    start: object = None,
) -> tuple[list[torch.Tensor], Callable[[], torch.Tensor]]:
    """Images ``(N, 1, 28, 28)`` decoded from ``N`` latent codes, the codes being the parameters.

    Codes start in random directions (random digits); ``start`` (a plain image
    for pixel parameterizations) does not apply to codes and is ignored. ``shape`` must be
    ``(N, 1, 28, 28)``: the prior draws nothing else.
    """
    n, *image = shape
    if tuple(image) != IMAGE_SHAPE:
        c, h, w = image
        raise VizcnnError(
            f"the MNIST image prior (--param prior) draws {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[2]} "
            f"(grey, 28x28 px) images, but this render asks for {c}x{h}x{w}: use size 28 (--size 28) with a "
            "model that takes 1x28x28 inputs, or --param fourier or pixel."
        )
    decoder = load_decoder(device)
    # GAIN * w starts standard normal; drawn on the CPU so that a seed gives the same start on every device
    w = (torch.randn((n, ZDIM), generator=generator) / GAIN).to(device).requires_grad_(True)
    return [w], lambda: decoder(decoder.to_shell(GAIN * w))
