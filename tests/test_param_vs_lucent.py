"""vizcnn's image parameterizations against lucent's (``lucent.optvis.param.image``), on the same seed.

Same seed, same starting parameters; then the same spectrum given to both
(large values, so that the 1/f spectrum scaling and the colour decorrelation
decide every pixel, not the sigmoid's flat middle) must give the same image.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vizcnn.optvis import param

lucent_param = pytest.importorskip("lucent.optvis.param")  # lucent is a core dependency: always there


def lucent_image(size: int, batch: int, *, fft: bool, channels: int | None, seed: int):
    torch.manual_seed(seed)  # lucent draws from torch's global generator
    return lucent_param.image(size, batch=batch, fft=fft, channels=channels)


def ours(kind: str, size: int, batch: int, channels: int, seed: int):
    shape = (batch, channels, size, size)
    return param.make(kind, shape, generator=torch.Generator().manual_seed(seed), device="cpu")


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("size", [32, 28])
def test_fourier_equals_lucent_on_the_same_seed(size, channels):
    (theirs_p,), theirs = lucent_image(size, 2, fft=True, channels=None if channels == 3 else 1, seed=7)
    (mine_p,), mine = ours("fourier", size, 2, channels, seed=7)
    assert mine_p.shape == theirs_p.shape == (2, channels, size, size // 2 + 1, 2)
    torch.testing.assert_close(mine_p, theirs_p.detach().cpu(), rtol=0, atol=0)  # the same start, bit for bit
    torch.testing.assert_close(mine(), theirs().cpu(), rtol=1e-5, atol=1e-6)
    big = torch.randn(theirs_p.shape, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        mine_p.copy_(big)
        theirs_p.copy_(big)
    image = mine()
    torch.testing.assert_close(image, theirs().cpu(), rtol=1e-4, atol=1e-5)
    assert 0.2 < float(image.std()) < 0.5  # far from the sigmoid's flat middle: the scaling decides the pixels


def test_fourier_spectrum_scaling_is_one_over_frequency_quartered():
    """One non-zero coefficient at frequency (fy, fx) = (2/32, 3/32) gives a cosine of amplitude 2*v/(4*f*sqrt(H*W))."""
    (p,), image = ours("fourier", 32, 1, 1, seed=0)
    with torch.no_grad():
        p.zero_()
        p[0, 0, 2, 3, 0] = 1.0
    logit = torch.logit(image()[0, 0].detach().double())
    f = np.hypot(2 / 32, 3 / 32)
    amplitude = 2 * 1.0 / (4 * f) / 32  # irfft2 "ortho": 1/sqrt(32*32); Hermitian pair doubles; lucid's /4
    yy, xx = np.mgrid[0:32, 0:32]
    expected = amplitude * np.cos(2 * np.pi * (2 * yy + 3 * xx) / 32)
    np.testing.assert_allclose(logit.numpy(), expected, atol=1e-5)


def test_colour_decorrelation_is_lucids_matrix():
    """A constant pixel value v in decorrelated channel k becomes the k-th column of lucid's normalized matrix times v."""
    (p,), image = ours("pixel", 4, 1, 3, seed=0)
    svd_sqrt = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
    normalized = svd_sqrt / np.linalg.norm(svd_sqrt, axis=0).max()
    for k in range(3):
        with torch.no_grad():
            p.zero_()
            p[0, k] = 1.5
        rgb = torch.logit(image()[0, :, 0, 0].detach().double()).numpy()
        np.testing.assert_allclose(rgb, 1.5 * normalized[:, k], atol=1e-5)


@pytest.mark.parametrize("channels", [3, 1])
def test_pixel_equals_lucent_on_the_same_seed(channels):
    (theirs_p,), theirs = lucent_image(16, 2, fft=False, channels=None if channels == 3 else 1, seed=3)
    (mine_p,), mine = ours("pixel", 16, 2, channels, seed=3)
    torch.testing.assert_close(mine_p, theirs_p.detach().cpu(), rtol=0, atol=0)
    big = torch.randn(theirs_p.shape, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        mine_p.copy_(big)
        theirs_p.copy_(big)
    torch.testing.assert_close(mine(), theirs().cpu(), rtol=1e-5, atol=1e-6)


def test_odd_sizes_match_lucent_on_the_frequencies_both_use():
    """lucent keeps one extra column of spectrum for odd widths, which irfftn drops; the images agree."""
    torch.manual_seed(0)
    (theirs_p,), theirs = lucent_param.image(27, batch=1, fft=True)
    (mine_p,), mine = ours("fourier", 27, 1, 3, seed=0)
    assert theirs_p.shape[-2] == mine_p.shape[-2] + 1 == 27 // 2 + 2
    big = torch.randn(mine_p.shape, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        mine_p.copy_(big)
        theirs_p.zero_()
        theirs_p[..., : mine_p.shape[-2], :] = big
    torch.testing.assert_close(mine(), theirs().cpu(), rtol=1e-4, atol=1e-5)
