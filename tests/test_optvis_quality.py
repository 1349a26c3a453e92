"""Feature-visualization quality: the known answer for a first layer, per-layer defaults,
regularizers, and failed renders marked everywhere they are shown."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vizcnn
from vizcnn import optvis
from vizcnn.gallery import build_gallery
from vizcnn.gallery.spec import load_spec
from vizcnn.optvis.transforms import Transforms

from .conftest import run_cli


def _filter_r(model, images: torch.Tensor, channels: list[int]) -> list[float]:
    """Pearson r between conv1's filter and the 5x5 window of the image where the channel responds most."""
    w = model.net.conv1.weight.detach()
    x = model.input.normalize(images)
    rs = []
    for i, c in enumerate(channels):
        out = F.conv2d(x[i : i + 1], w[c : c + 1], padding=2)[0, 0]
        y, xx = divmod(int(out.argmax()), out.shape[1])
        window = F.pad(x[i : i + 1], (2, 2, 2, 2))[0, 0, y : y + 5, xx : xx + 5]
        rs.append(float(np.corrcoef(window.flatten().numpy(), w[c, 0].flatten().numpy())[0, 1]))
    return rs


def test_first_layer_render_reproduces_its_filter(mnist_cnn):
    """The known answer: a first conv layer's best input under the pixel box is its filter's sign pattern."""
    channels = [0, 3, 6, 9, 12, 15]
    res = optvis.render_channels(mnist_cnn, "conv1", channels, steps=96, progress=False)
    rs = _filter_r(mnist_cnn, res.images, channels)
    assert sum(r >= 0.7 for r in rs) >= 5, rs
    # the channel mean with lucid's transforms, the old default, misses it
    old = optvis.render_channels(
        mnist_cnn, "conv1", channels, steps=96, position="mean", transforms=optvis.standard(28), progress=False
    )
    assert np.median(_filter_r(mnist_cnn, old.images, channels)) < np.median(rs) - 0.1


def test_default_objective_fits_the_layer(mnist_cnn, alexnet):
    recipe = optvis.recipe_for
    assert recipe(mnist_cnn, "conv1", 28).position == "centre" and recipe(mnist_cnn, "conv1", 28).transforms is None
    assert recipe(mnist_cnn, "bn1", 28).position == "centre"  # still affine in the image
    assert recipe(mnist_cnn, "relu1", 28).position == "mean" and recipe(mnist_cnn, "conv3", 28).position == "mean"
    assert recipe(mnist_cnn, "fc2", 28).why == "a unit of a linear layer"
    assert recipe(alexnet, "conv1", 128).position == "centre" and recipe(alexnet, "conv2", 128).position == "mean"
    assert recipe(mnist_cnn, "conv3", 28).transforms.pad == 1  # light below 64 px
    assert recipe(alexnet, "conv2", 128).transforms == optvis.standard(128)
    res = optvis.render_channels(mnist_cnn, "conv1", [2], steps=2, progress=False)
    assert res.objective == "centre neuron (affine in the image)" and "centre neuron" in res.title
    # the centre objective is the centre unit of the conv output, as neuron() computes it
    x = res.images
    with torch.no_grad():
        centre = F.conv2d(mnist_cnn.input.normalize(x), mnist_cnn.net.conv1.weight, padding=2)[0, 2, 14, 14]
    assert res.values[0] == pytest.approx(float(centre), rel=1e-4)


def test_large_renders_reach_lucids_objective_in_half_the_steps():
    """From 64 px up the default learning rate is 0.2: 48 steps beat 96 at lucid's 0.05, channel by channel."""
    model = vizcnn.load_model("alexnet", "random", device="cpu")
    assert optvis.recipe_for(model, "conv3", 64).lr == 0.2 and optvis.recipe_for(model, "conv3", 28).lr == 0.05
    fast = optvis.render_channels(model, "conv3", [0, 1, 2], steps=48, size=64, progress=False)
    lucid = optvis.render_channels(model, "conv3", [0, 1, 2], steps=96, size=64, lr=0.05, progress=False)
    assert all(f > 1.05 * s > 0 for f, s in zip(fast.values, lucid.values)), (fast.values, lucid.values)


@pytest.mark.parametrize("name, weight", [("total_variation", 2.0), ("l1", 20.0), ("l2", 4.0), ("blur", 40.0)])
def test_regularizer_term_goes_down_when_subtracted(mnist_cnn, name, weight):
    """The same channel render with and without the penalty: the term ends lower with it."""
    term = getattr(optvis, name)()
    obj = optvis.channels_per_image("conv3", [5, 16])
    kw = dict(batch=2, steps=32, seed=3, transforms=None, progress=False)
    free = optvis.render(mnist_cnn, obj, **kw).images
    held = optvis.render(mnist_cnn, obj, extra=-weight * term, **kw).images
    on = lambda x: term({optvis.IMAGE: x}, mnist_cnn).tolist()
    assert all(h < 0.9 * f for h, f in zip(on(held), on(free))), (on(held), on(free))


def test_regularizers_equal_hand_computation():
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]]])
    acts = {optvis.IMAGE: x}
    assert optvis.total_variation()(acts).tolist() == pytest.approx([(1.0 + 0.0) / 2 + (0.5 + 0.5) / 2])
    assert optvis.l1(0.5)(acts).tolist() == pytest.approx([(0.5 + 0.5 + 0 + 0) / 4])
    assert optvis.l2(0.0)(acts).tolist() == pytest.approx([(0 + 1 + 0.25 + 0.25) / 4])
    # blur: replicate-padded 3x3 box mean of each pixel, then half the mean squared distance
    pad = np.pad(x[0, 0].numpy(), 1, mode="edge")
    box = np.array([[pad[i : i + 3, j : j + 3].mean() for j in range(2)] for i in range(2)])
    assert optvis.blur()(acts).tolist() == pytest.approx([0.5 * ((x[0, 0].numpy() - box) ** 2).mean()])


def test_regularizer_flags_change_the_render_and_bad_ones_exit_2(tmp_path):
    out = tmp_path / "r.png"
    code, plain, err = run_cli("render", "mnist-cnn", "conv3:5", "--steps", "16", "--quiet", "-o", str(out))
    assert code == 0, err
    code, smooth, err = run_cli(
        "render", "mnist-cnn", "conv3:5", "--steps", "16", "--quiet", "--tv", "5", "--jitter", "1", "-o", str(out)
    )
    assert code == 0, err
    assert plain != smooth
    for flags, message in [(["--tv", "-1"], "--tv must be 0 or more"), (["--param", "bogus"], "unknown --param"),
                           (["--jitter", "99"], "--jitter must be between 0"), (["--lr", "0"], "--lr must be above 0")]:  # fmt: skip
        code, _, err = run_cli("render", "mnist-cnn", "conv3:5", "--steps", "1", *flags, "-o", str(out))
        assert code == 2 and message in err and "Traceback" not in err


def _dead_channel_model():
    """mnist-cnn with conv2's channel 4 zeroed: every image gives it 0, so no render can beat a plain image."""
    model = vizcnn.load_model("mnist-cnn")
    with torch.no_grad():
        model.net.conv2.weight[4] = 0
    return model


def test_failed_render_is_marked_in_caption_and_output(tmp_path):
    model = _dead_channel_model()
    res = optvis.render_channels(model, "conv2", [4, 7], steps=8, progress=False)
    assert res.values[0] == 0 and res.baselines[0] == 0
    assert res.failed == [True, False]
    assert "FAILED" in res.captions[0] and "FAILED" not in res.captions[1]
    code, out, err = run_cli("render", "mnist-cnn", "conv2:0", "--steps", "1", "--lr", "1e-6", "--start", "grey", "--quiet",
                             "-o", str(tmp_path / "g.png"))  # fmt: skip
    assert code == 0 and "conv2:0: " in out and "FAILED: at or below its baseline, a plain image (" in out, err
    # grey start, no steps: a real channel below its mean-input value fails too
    grey = optvis.render_channels(vizcnn.load_model("mnist-cnn"), "conv2", [0], steps=0, start="grey", progress=False)
    assert grey.failed == [True] and grey.values[0] < grey.baselines[0]


def test_failed_render_gets_a_badge_on_the_gallery_pages(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[render]\nsteps = 8\ndiversity = 0\nbatch = 2\n\n[[models]]\nname = "mnist-cnn"\nviews = ["features"]\n'
        'layers = [{ name = "conv2", channels = [4, 7] }]\n'
    )
    parsed, _models = load_spec(spec)
    report = build_gallery(parsed, tmp_path / "site", models={0: _dead_channel_model()}, progress=False)
    layer = (report.out / "models/mnist-cnn/conv2")
    dead, alive = (layer / "4.html").read_text(), (layer / "7.html").read_text()
    assert "Failed render" in dead and "main render (FAILED)" in dead
    assert "Failed render" not in alive and "FAILED" not in alive
    index = (layer / "index.html").read_text()
    assert index.count('class="badge-failed"') == 1 and 'class="card failed" href="4.html"' in index
