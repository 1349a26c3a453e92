"""Filter grids: layout against the layer's shape, tile pixels against the weights, sorts, errors."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import vizcnn
from vizcnn.errors import VizcnnError
from vizcnn.filters import colorfulness, frequency, plot
from vizcnn.models import InputSpec, Model

from .conftest import run_cli

PAD = 4  # image_grid's padding


def grid_shape(image: Image.Image, size: int) -> tuple[int, int]:
    """(columns, rows) of tiles of side ``size`` a grid image holds, from the tile boxes image_grid keeps."""
    boxes = image.info["tile_boxes"]
    assert all(x1 - x0 == size and y1 - y0 == size for x0, y0, x1, y1 in boxes)
    return len({b[0] for b in boxes}), len({b[1] for b in boxes})


def tiny_rgb_model(weights: torch.Tensor) -> Model:
    """A one-conv network on RGB input with the given first-layer weights ``(F, 3, k, k)``."""
    conv = nn.Conv2d(3, weights.shape[0], weights.shape[-1], bias=False)
    with torch.no_grad():
        conv.weight.copy_(weights)
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten())
    spec = InputSpec(channels=3, size=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return Model("tiny", net, spec, categories=[], aliases={"conv1": "0"})


def test_alexnet_conv1_is_64_colour_tiles_in_an_8x8_grid(alexnet):
    grid = plot(alexnet, "conv1")
    assert grid.reduce == "rgb" and tuple(grid.weights.shape) == (64, 3, 11, 11)
    size, ncols = grid.layout()
    assert ncols == 8 and size % 11 == 0  # nearest-neighbour upscaling by a whole factor
    drawn = grid.to_image()
    assert drawn.width == 8 * (size + PAD) + PAD and grid_shape(drawn, size) == (8, 8)
    x0, y0 = drawn.info["tile_boxes"][0][:2]
    image = Image.open(io.BytesIO(grid._repr_png_()))
    tiles = grid.tiles()
    assert len(tiles) == 64 and tiles[0].shape == (11, 11, 3)
    # The top-left pixel of the first tile is filter 0's weight at (0, 0), scaled symmetrically around grey.
    w = alexnet.layer("conv1").module.weight.detach()[0]
    expected = np.clip(w[:, 0, 0].numpy() / w.abs().max().item() / 2 + 0.5, 0, 1) * 255
    assert np.abs(np.asarray(image)[y0 + 1, x0 + 1].astype(float) - expected).max() <= 1


def test_mnist_layouts_follow_the_layer(mnist_cnn):
    conv1 = plot(mnist_cnn, "conv1")  # 16 filters of 1x5x5: one tile each, 4x4
    assert conv1.reduce == "slices" and len(conv1.tiles()) == 16
    size, ncols = conv1.layout()
    assert ncols == 4
    assert grid_shape(conv1.to_image(), size) == (4, 4)

    conv2 = plot(mnist_cnn, "conv2")  # 32 filters x 16 input channels: a 32-row, 16-column grid of 3x3 slices
    assert conv2.reduce == "slices" and len(conv2.tiles()) == 32 * 16
    size, ncols = conv2.layout()
    assert ncols == 16
    image = conv2.to_image()
    assert image.width == 16 * (size + PAD) + PAD
    assert grid_shape(image, size) == (16, 32)


def test_large_layers_reduce_over_input_channels(alexnet, mnist_cnn):
    conv2 = plot(alexnet, "conv2")  # 192 x 64 slices is too many: mean over inputs, one tile per filter
    assert conv2.reduce == "mean" and len(conv2.tiles()) == 192
    mean = alexnet.layer("conv2").module.weight.detach().mean(dim=1)[7]
    expected = np.clip(mean.numpy() / mean.abs().max().item() / 2 + 0.5, 0, 1) * 255
    assert np.abs(conv2.tiles()[7].astype(float) - expected).max() <= 1
    norm = plot(mnist_cnn, "conv3", reduce="norm")
    tile = norm.tiles()[0].astype(float)
    w = mnist_cnn.layer("conv3").module.weight.detach()[0].pow(2).sum(0).sqrt()
    assert np.abs(tile - (w / w.max() * 255).numpy()).max() <= 1  # L2 over inputs, scaled from zero


def test_scale_filter_stretches_each_filter_shared_does_not(mnist_cnn):
    per_filter = plot(mnist_cnn, "conv1", scale="filter").tiles()
    assert all(t.min() == 0 or t.max() == 255 for t in per_filter)
    shared = plot(mnist_cnn, "conv1", scale="shared")
    full = [t.min() == 0 or t.max() == 255 for t in shared.tiles()]
    strongest = int(mnist_cnn.layer("conv1").module.weight.detach().abs().flatten(1).max(1).values.argmax())
    assert full[strongest] and sum(full) < len(full)


def test_norm_sort_matches_the_weights(alexnet):
    grid = plot(alexnet, "conv1", sort="norm")
    norms = alexnet.layer("conv1").module.weight.detach().flatten(1).norm(dim=1)
    assert torch.allclose(grid.norms, norms)
    assert grid.order == sorted(range(64), key=lambda i: -norms[i].item())
    assert grid.labels()[0] == f"#{grid.order[0]} {norms[grid.order[0]].item():.2f}"


def test_colour_sort_puts_colour_blobs_before_grey_edges():
    k = 4
    edge = torch.tensor([[-1.0, -1.0, 1.0, 1.0]]).repeat(k, 1)  # vertical edge
    blob = torch.ones(k, k)
    weights = torch.stack([
        torch.stack([edge, edge, edge]),            # 0: grey edge detector: colourfulness 0
        torch.stack([blob, -blob, 0 * blob]),      # 1: red/green opponent blob: colourfulness 1
        torch.stack([edge.T, edge.T, edge.T]),      # 2: grey horizontal edge: 0
        torch.stack([blob, 0 * blob, 0 * blob]),   # 3: red blob: (2/3)^2 + 2 (1/3)^2 = 2/3
    ])  # fmt: skip
    assert torch.allclose(colorfulness(weights), torch.tensor([0.0, 1.0, 0.0, 2 / 3]))
    model = tiny_rgb_model(weights)
    assert plot(model, "conv1", sort="color").order == [1, 3, 0, 2]
    assert plot(model, "conv1").reduce == "rgb"


def test_frequency_is_the_power_weighted_radius():
    flat = torch.ones(1, 1, 4, 4)
    stripes = torch.tensor([1.0, -1.0, 1.0, -1.0]).repeat(4, 1)[None, None]
    checker = stripes * torch.tensor([1.0, -1.0, 1.0, -1.0])[:, None]
    f = frequency(torch.cat([checker, flat, stripes]))
    assert torch.allclose(f, torch.tensor([math.sqrt(0.5), 0.0, 0.5]))
    model = tiny_rgb_model(torch.cat([checker, flat, stripes]).repeat(1, 3, 1, 1))
    assert plot(model, "conv1", sort="frequency").order == [1, 2, 0]


def test_options_that_do_not_fit_the_layer(mnist_cnn):
    with pytest.raises(VizcnnError, match="conv1, conv2, conv3, conv4"):
        plot(mnist_cnn, "fc1")
    with pytest.raises(VizcnnError, match="RGB"):
        plot(mnist_cnn, "conv1", sort="color")
    with pytest.raises(VizcnnError, match="first conv layer on RGB"):
        plot(mnist_cnn, "conv1", reduce="rgb")
    with pytest.raises(VizcnnError, match="norm, color, frequency"):
        plot(mnist_cnn, "conv1", sort="size")


def test_cli_writes_the_default_output_and_says_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("filters", "mnist-cnn", "conv1", "--sort", "norm")
    assert code == 0, err
    path = tmp_path / "vizcnn-out" / "mnist-cnn-conv1-filters.png"
    assert str(path.relative_to(tmp_path)) in out
    assert Image.open(path).size == plot_size("mnist-cnn", "conv1")


def plot_size(name: str, layer: str) -> tuple[int, int]:
    import vizcnn

    return plot(vizcnn.load_model(name, device="cpu"), layer, sort="norm").to_image().size


def test_cli_alexnet_random_weights(tmp_path, torch_home):
    code, out, err = run_cli("filters", "alexnet", "conv1", "--sort", "color", "-o", str(tmp_path / "a.png"))
    assert code == 0, err
    drawn = plot(vizcnn.load_model("alexnet", device="cpu"), "conv1", sort="color")  # the same cached weights
    assert drawn.layout()[1] == 8  # 64 colour filters, 8 to a row
    with Image.open(tmp_path / "a.png") as im:  # the file is the library's drawing, whatever its pixel size
        assert im.convert("RGB").tobytes() == drawn.to_image().convert("RGB").tobytes()


def test_cli_linear_layer_fails_cleanly_and_keeps_the_old_output(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous result")
    code, out, err = run_cli("filters", "mnist-cnn", "fc1", "-o", str(target))
    assert code == 2 and out == ""
    assert "'fc1' is a Linear" in err and "conv1, conv2, conv3, conv4" in err and "Traceback" not in err
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left behind
    code, _, err = run_cli("filters", "mnist-cnn", "conv9", "-o", str(tmp_path / "new.png"))
    assert code == 2 and "Did you mean" in err and not (tmp_path / "new.png").exists()
