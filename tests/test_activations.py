"""Activation maps: summary values against a hand-run forward pass, early stop, predictions, images, CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from vizcnn.activations import activations, channel_count
from vizcnn.data import load_image
from vizcnn.errors import VizcnnError

from .conftest import run_cli


def conv2_by_hand(model, x: torch.Tensor) -> torch.Tensor:
    """mnist-cnn up to conv2, module by module, without hooks."""
    net = model.net
    with torch.no_grad():
        return net.conv2(net.relu1(net.bn1(net.conv1(x))))


def test_summary_equals_a_direct_forward_pass(mnist_cnn):
    maps = activations(mnist_cnn, "conv2", "mnist:17", top=6)
    direct = conv2_by_hand(mnist_cnn, mnist_cnn.preprocess(load_image("mnist:17")))[0]
    means, maxes = direct.mean(dim=(1, 2)), direct.amax(dim=(1, 2))
    expected = torch.argsort(means, descending=True)[:6].tolist()
    assert maps.channels == expected
    assert [s["channel"] for s in maps.summary] == expected
    for s in maps.summary:
        assert s["mean"] == pytest.approx(means[s["channel"]].item(), abs=1e-5)
        assert s["max"] == pytest.approx(maxes[s["channel"]].item(), abs=1e-5)
    assert torch.allclose(maps.output, direct, atol=1e-5)
    assert maps.output.shape == (32, 28, 28)


def test_predictions_are_the_softmax_of_the_logits(mnist_cnn):
    maps = activations(mnist_cnn, "conv3", "mnist:3", classes=3)
    with torch.no_grad():
        probs = torch.softmax(mnist_cnn.net(mnist_cnn.preprocess(load_image("mnist:3")))[0], dim=0)
    values, indices = probs.topk(3)
    assert [c["index"] for c in maps.classes] == indices.tolist()
    assert [c["class"] for c in maps.classes] == [str(i) for i in indices.tolist()]
    assert [c["probability"] for c in maps.classes] == pytest.approx(values.tolist(), abs=1e-6)


def test_without_predictions_later_layers_never_run(mnist_cnn):
    fired = []
    handle = mnist_cnn.net.conv3.register_forward_hook(lambda *a: fired.append("conv3"))
    try:
        maps = activations(mnist_cnn, "conv2", "mnist:0", classes=0)
        assert fired == [] and maps.classes == []
        activations(mnist_cnn, "conv2", "mnist:0", classes=2)
        assert fired == ["conv3"]  # predictions need the full pass
    finally:
        handle.remove()
    assert all(not m._forward_hooks for m in mnist_cnn.net.modules())  # vizcnn left no hook behind


def test_given_channels_keep_their_order_and_are_checked(mnist_cnn):
    maps = activations(mnist_cnn, "conv1", "mnist:5", channels=[9, 0, 3])
    assert [s["channel"] for s in maps.summary] == [9, 0, 3]
    with pytest.raises(VizcnnError, match="channel 16 is out of range"):
        activations(mnist_cnn, "conv1", "mnist:5", channels=[1, 16])
    assert all(not m._forward_hooks for m in mnist_cnn.net.modules())  # none left after the error either
    assert channel_count(mnist_cnn, "conv1") == 16 and channel_count(mnist_cnn, "fc1") == 128


def test_linear_layer_reports_unit_values(mnist_cnn):
    maps = activations(mnist_cnn, "fc2", "mnist:8", top=3)
    with torch.no_grad():
        logits = mnist_cnn.net(mnist_cnn.preprocess(load_image("mnist:8")))[0]
    top = torch.argsort(logits, descending=True)[:3]
    assert [s["channel"] for s in maps.summary] == top.tolist()
    assert all(s["mean"] == s["max"] == pytest.approx(logits[s["channel"]].item(), abs=1e-5) for s in maps.summary)
    with Image.open(io.BytesIO(maps._repr_png_())) as shown:  # what Jupyter shows is the picture itself
        assert shown.convert("RGB").tobytes() == maps.to_image().convert("RGB").tobytes()


def test_alexnet_on_rgba_and_greyscale_photos_of_any_size(alexnet, tmp_path):
    rng = np.random.default_rng(0)
    rgba = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 256, (150, 331, 4), dtype=np.uint8), "RGBA").save(rgba)
    grey = tmp_path / "grey.jpg"
    Image.fromarray(rng.integers(0, 256, (400, 260), dtype=np.uint8), "L").save(grey)
    for path in (rgba, grey):
        maps = activations(alexnet, "conv1", path, top=4, classes=2)
        assert maps.image.size == (224, 224) and maps.image.mode == "RGB"
        assert maps.output.shape == (64, 55, 55) and len(maps.summary) == 4 and len(maps.classes) == 2
    widths = {k: activations(alexnet, "conv1", grey, top=k, classes=0).to_image().width for k in (2, 3, 4)}
    assert widths[2] < widths[3] < widths[4]  # the maps sit in one row: each one more makes it wider


def test_cli_json_matches_the_library(tmp_path, mnist_cnn):
    out = tmp_path / "maps.png"
    argv = ["activations", "mnist-cnn", "conv2", "--image", "mnist:17", "--top", "3", "--json", "-o", str(out)]
    code, stdout, err = run_cli(*argv)
    assert code == 0, err
    data = json.loads(stdout)
    maps = activations(mnist_cnn, "conv2", "mnist:17", top=3)
    assert [c["channel"] for c in data["channels"]] == maps.channels
    assert [c["mean"] for c in data["channels"]] == pytest.approx([s["mean"] for s in maps.summary])
    assert data["shape"] == [32, 28, 28] and len(data["classes"]) == 5
    assert Image.open(out).size == maps.to_image().size


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--image", "mnist:17", "--channels", "0,40"], "channel 40 is out of range"),
        (["--image", "mnist:500"], "mnist:0 to mnist:499"),
        (["--image", "missing.png"], "does not exist"),
        (["--image", "NOT_AN_IMAGE"], "cannot read"),
    ],
)
def test_cli_bad_input_exits_2_without_output(tmp_path, argv, message):
    bad = tmp_path / "NOT_AN_IMAGE"
    bad.write_text("plain text")
    out = tmp_path / "maps.png"
    out.write_bytes(b"old")
    argv = [str(bad) if a == "NOT_AN_IMAGE" else str(tmp_path / a) if a == "missing.png" else a for a in argv]
    code, stdout, err = run_cli("activations", "mnist-cnn", "conv2", *argv, "-o", str(out))
    assert code == 2 and message in err and "Traceback" not in err
    assert out.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["NOT_AN_IMAGE", "maps.png"]
