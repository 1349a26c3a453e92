"""Dataset examples: streamed top-K against a brute-force sort, crops, data sources, CLI errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from vizcnn.data import Digits, sample, write_idx
from vizcnn.errors import VizcnnError
from vizcnn.examples import receptive_field, top_examples, top_examples_for

from .conftest import run_cli


def brute_force(values: torch.Tensor, k: int) -> list[int]:
    """Indices of the k largest values, ties to the earlier index."""
    return sorted(range(len(values)), key=lambda i: (-values[i].item(), i))[:k]


@pytest.fixture(scope="module")
def digits() -> Digits:
    """200 digits of the bundled sample (it is shuffled, so every class is there)."""
    full = sample()
    return Digits(full.images[:200].copy(), full.labels[:200].copy(), "first 200 of the sample")


@pytest.fixture(scope="module")
def conv3_all(mnist_cnn, digits) -> torch.Tensor:
    """conv3 of mnist-cnn on all the digits at once, module by module."""
    net = mnist_cnn.net
    x = mnist_cnn.input.normalize(digits.tensors()[0])
    with torch.no_grad():
        h = net.relu1(net.bn1(net.conv1(x)))
        h = net.pool1(net.relu2(net.bn2(net.conv2(h))))
        return net.conv3(h)


def test_streamed_top_k_equals_a_brute_force_sort(mnist_cnn, digits, conv3_all):
    channel, k = 5, 7
    result = top_examples(mnist_cnn, "conv3", channel, digits, k=k, batch_size=37, progress=False)
    peak = conv3_all[:, channel].flatten(1).max(dim=1)
    expected = brute_force(peak.values, k)
    assert result.indices == expected
    assert torch.allclose(result.values, peak.values[expected], atol=1e-5)
    assert result.names == [f"mnist:{i}" for i in expected]
    assert result.seen == 200 and result.skipped == 0
    width = conv3_all.shape[-1]
    for i, (y, x) in zip(expected, result.locations):
        assert y * width + x == peak.indices[i].item()


def test_several_channels_in_one_pass(mnist_cnn, digits, conv3_all):
    calls = []
    handle = mnist_cnn.net.conv3.register_forward_hook(lambda _m, inputs, _out: calls.append(len(inputs[0])))
    try:
        results = top_examples_for(mnist_cnn, "conv3", [2, 60, 2], digits, k=4, batch_size=50, progress=False)
    finally:
        handle.remove()
    # behaviour, not the count of one-image set-up passes: the 200 digits go through the layer once, in
    # batches of 50, for both channels together
    assert [n for n in calls if n > 1] == [50, 50, 50, 50]
    assert sorted(results) == [2, 60]
    for c, result in results.items():
        peak = conv3_all[:, c].flatten(1).max(dim=1).values
        assert result.channel == c and result.indices == brute_force(peak, 4)
        assert len(result.crops) == 4 and all(b is not None for b in result.boxes)


def test_crop_boxes_follow_the_receptive_field(mnist_cnn, digits):
    conv1, conv3 = receptive_field(mnist_cnn, "conv1"), receptive_field(mnist_cnn, "conv3")
    assert (conv1.size, conv1.jump, conv1.start) == ((5, 5), (1, 1), (0.0, 0.0))  # 5x5, padding 2: unit (y, x) is centred on pixel (y, x)
    assert (conv3.size, conv3.jump, conv3.start) == ((12, 12), (2, 2), (0.5, 0.5))
    assert receptive_field(mnist_cnn, "fc1") is None
    fired = []
    handle = mnist_cnn.net.conv2.register_forward_hook(lambda _m, inputs, _out: fired.append(len(inputs[0])))
    try:
        result = top_examples(mnist_cnn, "conv1", 3, digits, k=5, progress=False)
    finally:
        handle.remove()
    assert fired and all(n == 1 for n in fired)  # one-image set-up passes only: the data batches stop after conv1
    for (y, x), box, crop in zip(result.locations, result.boxes, result.crops):
        assert box == (max(0, x - 2), max(0, y - 2), min(28, x + 3), min(28, y + 3))
        assert crop.size == (box[2] - box[0], box[3] - box[1])
    conv3 = top_examples(mnist_cnn, "conv3", 5, digits, k=3, progress=False)
    for (y, x), box in zip(conv3.locations, conv3.boxes):
        left, top = round(0.5 + 2 * x - 5.5), round(0.5 + 2 * y - 5.5)
        assert box == (max(0, left), max(0, top), min(28, left + 12), min(28, top + 12))


def test_linear_unit_ranks_whole_images(mnist_cnn, digits):
    with torch.no_grad():
        logits = mnist_cnn.net(mnist_cnn.input.normalize(digits.tensors()[0]))
    result = top_examples(mnist_cnn, "fc2", 4, digits, k=6, batch_size=128, progress=False)
    assert result.indices == brute_force(logits[:, 4], 6)
    assert result.boxes == [None] * 6 and result.locations == [None] * 6
    assert all(crop.size == (28, 28) for crop in result.crops)
    # The top images for the "4" logit are mostly labelled 4 with the trained weights.
    assert (digits.labels[result.indices] == 4).sum() >= 4


def test_mnist_idx_folder_and_out_of_range_channel(mnist_cnn, tmp_path):
    digits = sample()
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", digits.images[:40])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", digits.labels[:40].astype(np.uint8))
    result = top_examples(mnist_cnn, "conv2", 0, tmp_path, k=3, progress=False)
    assert result.source == str(tmp_path) and result.seen == 40 and max(result.indices) < 40
    with pytest.raises(VizcnnError, match="channel 32 is out of range: conv2 has 32 channels"):
        top_examples(mnist_cnn, "conv2", 32, tmp_path, progress=False)


def test_image_folder_on_alexnet_skips_unreadable_files(alexnet, tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "sub").mkdir()
    paths = [tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "sub" / "c.png", tmp_path / "d.png"]
    for i, p in enumerate(paths):
        Image.fromarray(rng.integers(0, 256, (60 + 20 * i, 90, 3), dtype=np.uint8)).save(p)
    (tmp_path / "broken.png").write_text("not an image")
    result = top_examples(alexnet, "conv2", 7, tmp_path, k=3, batch_size=2, progress=False)
    assert result.seen == 4 and result.skipped == 1 and len(result.indices) == 3
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())  # the order iter_image_files uses
    x = alexnet.preprocess([Image.open(p) for p in files if p.name != "broken.png"])
    net = alexnet.net.features
    with torch.no_grad():
        peaks = net[3](net[2](net[1](net[0](x))))[:, 7].flatten(1).max(dim=1).values
    readable = [str(p) for p in files if p.name != "broken.png"]
    assert result.names == [readable[i] for i in brute_force(peaks, 3)]
    assert torch.allclose(result.values, peaks[brute_force(peaks, 3)], atol=1e-4)
    assert all(box[2] - box[0] <= 51 and box[3] - box[1] <= 51 for box in result.boxes)  # conv2 sees 51x51
    with Image.open(io.BytesIO(result._repr_png_())) as shown:  # what Jupyter shows is the picture itself
        assert shown.convert("RGB").tobytes() == result.to_image().convert("RGB").tobytes()


def test_cli_json_and_errors(tmp_path, mnist_cnn):
    out = tmp_path / "ex.png"
    code, stdout, err = run_cli("examples", "mnist-cnn", "conv1:5", "--top", "4", "--json", "-o", str(out))
    assert code == 0, err
    data = json.loads(stdout)
    expected = top_examples(mnist_cnn, "conv1", 5, k=4, progress=False)  # default data: the bundled sample
    assert [e["index"] for e in data["examples"]] == expected.indices and data["seen"] == 500
    assert Image.open(out).size == expected.to_image().size
    out.write_bytes(b"old")
    for argv, message in [
        (["mnist-cnn", "conv3:64"], "channel 64 is out of range"),
        (["mnist-cnn", "conv3"], "give LAYER:CHANNEL"),
        (["mnist-cnn", "conv7:1"], "Did you mean"),
        (["alexnet", "conv1:0", "--weights", "random"], "--data DIR"),
        (["mnist-cnn", "conv1:0", "--data", str(tmp_path / "nowhere")], "is not a folder"),
    ]:
        code, _, err = run_cli("examples", *argv, "-o", str(out))
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["ex.png"]
