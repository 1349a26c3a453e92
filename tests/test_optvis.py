"""Feature visualization: objectives against hand computations, the render loop, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vizcnn import optvis
from vizcnn.cache import ResultCache
from vizcnn.errors import VizcnnError
from vizcnn.hooks import capture
from vizcnn.models import InputSpec, Model
from vizcnn.optvis.transforms import Transforms

from .conftest import run_cli

# -- a tiny model with known weights -------------------------------------------------------

X = torch.tensor(
    [[[[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 0.0, 1.0]]], [[[0.0, 1.0, 1.0], [2.0, 0.0, 0.0], [1.0, 1.0, 2.0]]]]
)  # (2, 1, 3, 3)
K0 = [[1.0, 0.0], [0.0, -1.0]]
K1 = [[0.5, 0.5], [0.5, 0.5]]


def _tiny() -> Model:
    """conv (1->2 channels, 2x2, no bias) -> flatten -> linear(8 -> 2)."""
    conv = nn.Conv2d(1, 2, 2, bias=False)
    lin = nn.Linear(8, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[K0], [K1]]))
        lin.weight.copy_(torch.arange(16, dtype=torch.float32).view(2, 8) / 10)
        lin.bias.copy_(torch.tensor([1.0, -1.0]))
    net = nn.Sequential(conv, nn.Flatten(), lin)
    spec = InputSpec(channels=1, size=3, mean=(0.0,), std=(1.0,))
    return Model("tiny", net, spec, ["cat", "dog"], {"conv": "0", "fc": "2"})


def _hand_conv(x: np.ndarray, k: list[list[float]]) -> np.ndarray:
    out = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            out[i, j] = sum(x[i + a, j + b] * k[a][b] for a in range(2) for b in range(2))
    return out


def _values(model: Model, obj: optvis.Objective) -> list[float]:
    modules = {n: model.layer(n).module for n in obj.layers if n != optvis.OUTPUT}
    with capture(model.net, modules, stop=False) as cap:
        out = cap.run(X)
    acts = {**cap, optvis.OUTPUT: out}
    return obj(acts, model).tolist()


def test_objectives_equal_hand_computation():
    model = _tiny()
    x = X[:, 0].numpy()
    maps = [[_hand_conv(x[b], K0), _hand_conv(x[b], K1)] for b in range(2)]  # maps[b][c] (2, 2)
    logits = [
        [sum(w * v for w, v in zip(np.arange(8 * r, 8 * r + 8) / 10, np.concatenate([m.ravel() for m in maps[b]])))
         + (1.0 if r == 0 else -1.0) for r in range(2)]
        for b in range(2)
    ]  # fmt: skip
    assert _values(model, optvis.channel("conv", 1)) == pytest.approx([maps[0][1].mean(), maps[1][1].mean()])
    # the centre unit of a 2x2 map is (y, x) = (1, 1)
    assert _values(model, optvis.neuron("conv", 0)) == pytest.approx([maps[0][0][1, 1], maps[1][0][1, 1]])
    assert _values(model, optvis.neuron("conv", 1, x=0, y=1)) == pytest.approx([maps[0][1][1, 0], maps[1][1][1, 0]])
    v = [2.0, -3.0]
    assert _values(model, optvis.direction("conv", v)) == pytest.approx(
        [(2 * maps[b][0] - 3 * maps[b][1]).mean() for b in range(2)]
    )
    assert _values(model, optvis.class_logit("dog")) == pytest.approx([logits[0][1], logits[1][1]], rel=1e-5)
    assert _values(model, optvis.channel("fc", 0)) == pytest.approx([logits[0][0], logits[1][0]], rel=1e-5)
    # diversity: cosine similarity of the flattened Gram matrices, each element gets its share
    grams = [np.array([[np.sum(maps[b][i] * maps[b][j]) for j in range(2)] for i in range(2)]).ravel() for b in range(2)]
    cos = float(grams[0] @ grams[1] / np.linalg.norm(grams[0]) / np.linalg.norm(grams[1]))
    assert _values(model, optvis.diversity("conv")) == pytest.approx([cos / 2, cos / 2], rel=1e-5)
    # arithmetic and batch selection
    combo = optvis.channel("conv", 0) - 0.5 * optvis.channel("conv", 1, batch=1) + optvis.neuron("conv", 0) / 4
    expected = [maps[b][0].mean() - (0.5 * maps[b][1].mean() if b == 1 else 0) + maps[b][0][1, 1] / 4 for b in range(2)]
    assert _values(model, combo) == pytest.approx(expected)
    assert _values(model, -optvis.channel("conv", 0)) == pytest.approx([-maps[0][0].mean(), -maps[1][0].mean()])
    assert _values(model, optvis.channels_per_image("conv", [1, 0])) == pytest.approx(
        [maps[0][1].mean(), maps[1][0].mean()]
    )
    assert combo.layers == ("conv",)
    # the shortcut from the layer's input, with only the needed filters, gives the same values
    pick = optvis.channels_per_image("conv", [1, 0])
    assert pick.via_input(model.layer("conv").module)(X).tolist() == pytest.approx([maps[0][1].mean(), maps[1][0].mean()])
    flat = model.net[1](model.net[0](X))
    fc = optvis.channels_per_image("fc", [1, 0]).via_input(model.layer("fc").module)
    assert fc(flat).tolist() == pytest.approx([logits[0][1], logits[1][0]], rel=1e-5)


def test_objective_errors_are_clear():
    model = _tiny()
    with pytest.raises(VizcnnError, match="channel 5 is out of range"):
        _values(model, optvis.channel("conv", 5))
    with pytest.raises(VizcnnError, match="unknown class 'cow'"):
        _values(model, optvis.class_logit("cow"))
    with pytest.raises(TypeError):
        optvis.channel("conv", 0) * optvis.channel("conv", 1)


# -- transforms ----------------------------------------------------------------------------


def test_one_warp_transforms_match_exact_shifts_and_rotations():
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 16, 16, generator=gen)
    identity = Transforms(pad=0, jitter=1, scales=(1.0,), angles=(0,), jitter2=1).plan(1, 2, 16, gen, img.device)
    assert torch.allclose(identity.apply(img, 0), img, atol=1e-5)
    rot = Transforms(pad=0, jitter=1, scales=(1.0,), angles=(90,), jitter2=1).plan(1, 2, 16, gen, img.device)
    out = rot.apply(img, 0)
    assert any(torch.allclose(out, torch.rot90(img, k, dims=(2, 3)), atol=1e-5) for k in (1, 3))
    padded = Transforms(pad=3, jitter=1, scales=(1.0,), angles=(0,), jitter2=1).plan(1, 2, 16, gen, img.device)
    # the grey-padded 22 px canvas resampled to 16 px, as lucent with fixed_image_size=16
    canvas = torch.nn.functional.pad(img, [3] * 4, value=0.5)
    expected = torch.nn.functional.interpolate(canvas, size=16, mode="bilinear", align_corners=False)
    assert torch.allclose(padded.apply(img, 0), expected, atol=1e-5)
    zoom = Transforms(pad=0, jitter=1, scales=(2.0,), angles=(0,), jitter2=1).plan(1, 2, 16, gen, img.device)
    assert torch.allclose(zoom.apply(img, 0)[:, :, 4:12, 4:12], torch.nn.functional.interpolate(
        img[:, :, 4:12, 4:12], scale_factor=2, mode="bilinear", align_corners=False)[:, :, 4:12, 4:12], atol=1e-5)


# -- the render loop ------------------------------------------------------------------------


def test_early_stopped_forward_matches_full_forward(mnist_cnn):
    x = torch.randn(3, 1, 28, 28)
    layers = {"conv2": mnist_cnn.layer("conv2").module, "conv3": mnist_cnn.layer("conv3").module}
    with torch.no_grad(), capture(mnist_cnn.net, layers, stop=True) as early:
        assert early.run(x) is None
    with torch.no_grad(), capture(mnist_cnn.net, layers, stop=False) as full:
        assert full.run(x) is not None
    for name in layers:
        assert torch.equal(early[name], full[name])
    # and the render's optimization never runs the layers after the objective's (one no-grad pass of the
    # whole network before it measures the memory the render needs)
    calls = []
    handles = [
        mnist_cnn.layer(name).module.register_forward_hook(
            lambda *a, name=name: calls.append((name, torch.is_grad_enabled()))
        )
        for name in ("conv2", "conv3", "fc2")
    ]
    try:
        optvis.render(mnist_cnn, optvis.channel("conv2", 3), steps=3, progress=False)
    finally:
        for h in handles:
            h.remove()
    grads = [name for name, grad in calls if grad]  # the 3 steps, and the memory estimate's pass (once per network)
    assert set(grads) == {"conv2"} and len(grads) >= 3
    assert calls[-1] == ("conv2", False)  # and the final measurement


def _random_activation(model: Model, layer: str, c: int) -> tuple[float, float, float]:
    """Mean, standard deviation and maximum of channel ``c`` over 64 uniform-noise images."""
    x = model.input.normalize(torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad(), capture(model.net, {"l": model.layer(layer).module}) as cap:
        cap.run(x)
    a = cap["l"][:, c].mean((1, 2))
    return float(a.mean()), float(a.std()), float(a.max())


def test_render_raises_the_channel_far_above_random(mnist_cnn):
    res = optvis.render_channels(mnist_cnn, "conv3", [7, 10], steps=48, progress=False)
    assert res.images.shape == (2, 1, 28, 28) and 0 <= res.images.min() and res.images.max() <= 1
    assert res.labels == ["conv3:7", "conv3:10"] and res.channels == [7, 10]
    for c, value in zip([7, 10], res.values):
        mean, std, top = _random_activation(mnist_cnn, "conv3", c)
        assert value > mean + 10 * std and value > top + 0.5, (c, value, mean, std, top)
    # the reported value is the channel's activation on the returned image
    again = _values_on(mnist_cnn, "conv3", res.images)
    assert again[0, 7].mean().item() == pytest.approx(res.values[0], rel=1e-4)
    image = res.to_image()
    assert image.width > 200 and res.image(0).size == (28, 28)


def _values_on(model: Model, layer: str, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), capture(model.net, {"l": model.layer(layer).module}) as cap:
        cap.run(model.input.normalize(images))
    return cap["l"]


def test_channel_shortcut_renders_like_the_full_layer(mnist_cnn):
    kw = dict(batch=2, steps=4, seed=5, progress=False)
    fast = optvis.render(mnist_cnn, optvis.channels_per_image("conv3", [2, 9]), **kw)
    full = optvis.render(mnist_cnn, optvis.channel("conv3", 2, batch=0) + optvis.channel("conv3", 9, batch=1), **kw)
    assert torch.allclose(fast.images, full.images, atol=1e-4)
    assert fast.values == pytest.approx(full.values, rel=1e-4)


def test_bfloat16_renders_nearly_the_same_values(mnist_cnn):
    kw = {"steps": 24, "seed": 1, "progress": False}
    full = optvis.render_channels(mnist_cnn, "conv3", [3, 10], **kw)
    half = optvis.render_channels(mnist_cnn, "conv3", [3, 10], precision="bfloat16", **kw)
    assert half.values == pytest.approx(full.values, rel=0.1)
    assert not torch.equal(half.images, full.images)
    with pytest.raises(ValueError, match="precision must be"):
        optvis.render(mnist_cnn, optvis.channel("conv3", 0), steps=1, precision="half", progress=False)


def test_same_seed_same_images_bitwise(mnist_cnn):
    a = optvis.render_channels(mnist_cnn, "conv2", [0, 5], steps=6, seed=3, progress=False)
    b = optvis.render_channels(mnist_cnn, "conv2", [0, 5], steps=6, seed=3, progress=False)
    c = optvis.render_channels(mnist_cnn, "conv2", [0, 5], steps=6, seed=4, progress=False)
    assert torch.equal(a.images, b.images) and a.values == b.values
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize(
    "objective",
    [
        optvis.channel("conv3", 7),
        optvis.neuron("conv2", 4),
        optvis.direction("conv3", torch.linspace(-1, 1, 64)),
        optvis.class_logit("5"),
        -optvis.diversity("conv2"),
    ],
    ids=["channel", "neuron", "direction", "class_logit", "neg-diversity"],
)
def test_objective_grows_after_a_few_steps(mnist_cnn, objective):
    batch = 3 if "diversity" in objective.description else 1
    kw = dict(batch=batch, seed=2, param="pixel", transforms=None, progress=False)
    before = sum(optvis.render(mnist_cnn, objective, steps=0, **kw).values)
    after = sum(optvis.render(mnist_cnn, objective, steps=8, **kw).values)
    assert after > before + 1e-3, (before, after)


def test_no_hooks_left_after_render_and_after_an_error(mnist_cnn):
    def hooks():
        return sum(len(m._forward_hooks) for m in mnist_cnn.net.modules())

    optvis.render(mnist_cnn, optvis.channel("conv1", 0), steps=2, progress=False)
    assert hooks() == 0
    with pytest.raises(VizcnnError, match="channel 99 is out of range"):
        optvis.render(mnist_cnn, optvis.channel("conv1", 99), steps=2, progress=False)
    assert hooks() == 0
    assert all(p.requires_grad for p in mnist_cnn.net.parameters())


def test_render_channels_cache_and_diversity(mnist_cnn, tmp_path):
    cache = ResultCache(tmp_path)
    first = optvis.render_channels(mnist_cnn, "conv1", [0, 1], steps=4, cache=cache, progress=False)
    assert len(list((tmp_path / "render").iterdir())) == 2
    # channel 1 comes from the cache (alone in a new batch it would start from other noise)
    second = optvis.render_channels(mnist_cnn, "conv1", [1, 2], steps=4, cache=cache, progress=False)
    assert torch.equal(second.images[0], first.images[1]) and second.values[0] == first.values[1]
    fresh = optvis.render_channels(mnist_cnn, "conv1", [1], steps=4, progress=False)
    assert not torch.equal(fresh.images[0], first.images[1])
    div = optvis.render_channels(mnist_cnn, "conv2", [0, 1], diversity=3, steps=4, progress=False)
    assert div.images.shape[0] == 6 and div.channels == [0, 0, 0, 1, 1, 1]
    with pytest.raises(VizcnnError, match="channel 16 is out of range"):
        optvis.render_channels(mnist_cnn, "conv1", [16], steps=1, progress=False)


def test_fourier_colour_render_on_alexnet(alexnet):
    res = optvis.render_channels(alexnet, "conv2", [0, 1], steps=2, size=48, progress=False)
    assert res.images.shape == (2, 3, 48, 48)
    assert 0 <= res.images.min() and res.images.max() <= 1


# -- the command line -------------------------------------------------------------------------


def test_cli_render_writes_grid_and_json(tmp_path):
    import json

    out = tmp_path / "three.png"
    code, stdout, err = run_cli("render", "mnist-cnn", "fc2:3", "--steps", "4", "--json", "-o", str(out))
    assert code == 0, err
    data = json.loads(stdout)
    assert out.is_file() and data["images"][0]["channel"] == 3 and data["images"][0]["label"] == "3"
    code, stdout, err = run_cli("render", "mnist-cnn", "conv1:0-2", "--steps", "2", "--quiet", "-o", str(out))
    assert code == 0, err
    assert stdout.count("conv1:") == 3


@pytest.mark.parametrize(
    "target, message",
    [("conv1:16", "channel 16 is out of range"), ("fc2:seven", "unknown class 'seven'"),
     ("conv1:edges", "class names work only for the output layer"), ("conv9:0", "unknown layer 'conv9'"),
     ("conv1", "write LAYER:CHANNELS"), ("fc2:3 --size 40", "use --size 28")],
)  # fmt: skip
def test_cli_bad_targets_exit_2(target, message, tmp_path):
    code, _, err = run_cli("render", "mnist-cnn", *target.split(), "--steps", "1", "-o", str(tmp_path / "x.png"))
    assert code == 2 and message in " ".join(err.split()) and "Traceback" not in err


@pytest.mark.parametrize("k,s,p,size", [(11, 4, 2, 128), (11, 4, 2, 97), (7, 2, 3, 64), (3, 2, 1, 33), (5, 3, 0, 40)])
def test_space_to_depth_conv_equals_the_strided_conv(k, s, p, size):
    """The fast path gives the same outputs and input gradients, keeps hooks firing, and is undone afterwards."""
    from vizcnn.optvis.fastconv import space_to_depth

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, k, stride=s, padding=p)
    x = torch.rand(2, 3, size, size, requires_grad=True)
    y = conv(x)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    fired = []
    handle = conv.register_forward_hook(lambda *_: fired.append(True))
    try:
        with space_to_depth(conv) as patched:
            y2 = conv(x)
            (gx2,) = torch.autograd.grad(y2, x, g)
    finally:
        handle.remove()
    assert patched == 1 and fired == [True] and "forward" not in conv.__dict__
    torch.testing.assert_close(y2, y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gx2, gx, atol=1e-5, rtol=1e-5)


def test_space_to_depth_leaves_other_layers_alone():
    from vizcnn.optvis.fastconv import space_to_depth

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 2, 2, stride=2), torch.nn.Conv2d(2, 2, 1, stride=2))
    with space_to_depth(net) as patched:
        assert patched == 0  # stride 1, kernel == stride, kernel < stride: nothing to gain
