"""Semantic dictionaries, attribution dictionaries and NMF neuron groups on the trained MNIST CNN."""

from __future__ import annotations

import html

import pytest
import torch
from PIL import Image

from vizcnn.cache import ResultCache
from vizcnn.data import load_image
from vizcnn.dictionary import attribution_dictionary, neuron_groups, semantic_dictionary
from vizcnn.errors import VizcnnError
from vizcnn.hooks import capture

from .conftest import run_cli


@pytest.fixture(scope="module")
def digit():
    return load_image("mnist:144")


@pytest.fixture(scope="module")
def relu2(mnist_cnn, digit):
    """relu2's activations (32, 28, 28) read directly, and d(logit 7)/d(relu2)."""
    x = mnist_cnn.preprocess(digit)
    with capture(mnist_cnn.net, {"l": mnist_cnn.layer("relu2").module}, stop=False) as cap:
        logits = cap.run(x)
        act = cap["l"]
        grad = torch.autograd.grad(logits[0, 7], act)[0]
    return act[0].detach(), grad[0]


def test_semantic_dictionary(mnist_cnn, digit, relu2):
    act, _ = relu2
    sem = semantic_dictionary(mnist_cnn, digit, "relu2", top=3)
    torch.testing.assert_close(sem.activations, act)
    values, idx = sem.positions
    assert values.shape == idx.shape == (28, 28, 3)
    torch.testing.assert_close(values[..., 0], act.max(dim=0).values)
    assert bool((values[..., :-1] >= values[..., 1:]).all())
    y, x = 14, 14
    assert act[idx[y, x, 0], y, x] == values[y, x, 0]
    top = sem.image_top()
    totals = act.sum(dim=(1, 2))
    assert [c for c, _ in top] == totals.topk(3).indices.tolist()
    assert sem.features == {}
    assert sem.to_png()[:4] == b"\x89PNG"
    page = sem.to_html()
    assert page.count('class="card"') == 3 and f"channel {top[0][0]}" in page


def test_feature_visualizations_are_cached(mnist_cnn, digit, tmp_path):
    cache = ResultCache(tmp_path)
    sem = semantic_dictionary(mnist_cnn, digit, "conv1", top=1, fv_steps=2, fv_size=16, cache=cache)
    assert set(sem.features) == set(sem.channels()) and len(sem.features) >= 1
    assert all(im.size == (16, 16) for im in sem.features.values())
    stored = sorted(p.name for p in tmp_path.rglob("*.pt"))
    assert len(stored) == len(sem.features)
    again = semantic_dictionary(mnist_cnn, digit, "conv1", top=1, fv_steps=2, fv_size=16, cache=cache)
    assert sorted(p.name for p in tmp_path.rglob("*.pt")) == stored
    c = next(iter(sem.features))
    assert again.features[c].tobytes() == sem.features[c].tobytes()


def test_neuron_groups_reconstruct(mnist_cnn, digit, relu2):
    act, grad = relu2
    groups = neuron_groups(mnist_cnn, digit, "relu2", 4, targets=[7, "1"])
    assert groups.spatial.shape == (4, 28, 28) and groups.directions.shape == (4, 32)
    assert bool((groups.spatial >= 0).all()) and bool((groups.directions >= 0).all())
    rebuilt = groups.reconstruction()
    assert rebuilt.shape == act.shape
    error = float(torch.linalg.norm(act - rebuilt) / torch.linalg.norm(act))
    assert groups.error == pytest.approx(error, rel=1e-4)
    assert 0 < groups.error < 1
    # each group's attribution is the gradient times its part of the activation, so together they
    # attribute the reconstruction, which is off from grad x act by at most |grad| |A - WH|
    together = float(groups.attributions["7"].sum())
    assert together == pytest.approx(float((grad * rebuilt).sum()), rel=1e-3, abs=1e-4)
    bound = float(torch.linalg.norm(grad) * torch.linalg.norm(act - rebuilt))
    assert abs(together - float((grad * act).sum())) <= bound + 1e-5
    assert set(groups.attributions) == {"7", "1"}
    more = neuron_groups(mnist_cnn, digit, "relu2", 16)
    assert more.error < groups.error
    assert groups.to_png()[:4] == b"\x89PNG"


def test_neuron_group_feature_visualizations(mnist_cnn, digit):
    groups = neuron_groups(mnist_cnn, digit, "relu3", 2, fv_steps=2, fv_size=16)
    assert len(groups.features) == 2 and groups.features[0].size == (16, 16)
    assert "feature visualization of group 1" in groups.to_html()


def test_neuron_groups_bad_k(mnist_cnn, digit):
    with pytest.raises(VizcnnError, match="between 1 and 32"):
        neuron_groups(mnist_cnn, digit, "relu2", 40)


def test_attribution_dictionary(mnist_cnn, digit):
    result = attribution_dictionary(mnist_cnn, digit, "conv2", "7", vs="1", top=4)
    a, b, ab = result.attributions
    assert (a.label, b.label, ab.label) == ("7", "1", "7 - 1")
    assert result.main is ab
    torch.testing.assert_close(ab.tensor, a.tensor - b.tensor, rtol=1e-4, atol=1e-6)
    chans = result.channels()
    assert {c for c, _ in ab.top(4)} <= set(chans) and len(chans) <= 12
    probs = mnist_cnn.net(mnist_cnn.preprocess(digit))[0].softmax(0).detach()
    assert [name for name, _ in result.predictions] == [str(int(i)) for i in probs.topk(5).indices]
    assert result.predictions[0][1] == pytest.approx(float(probs.max()), abs=1e-6)
    page = result.to_html()
    assert page.count('class="card"') == 12
    frame = result._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and html.unescape(frame).count("<!doctype html>") == 1


def test_cli_dictionary(digit, tmp_path):
    out = tmp_path / "d"
    path = tmp_path / "<script>alert(1).png"
    digit.save(path)
    code, stdout, stderr = run_cli(
        "dictionary", "mnist-cnn", "--image", str(path), "--layer", "relu3", "--groups", "3", "--fv-steps", "0",
        "-o", str(out),
    )
    assert code == 0, stderr
    assert "3 neuron groups, relative reconstruction error" in stdout
    for name in ("semantic.png", "groups.png"):
        with Image.open(out / name) as im:
            assert im.format == "PNG" and min(im.size) > 100
    page = (out / "index.html").read_text()
    assert "&lt;script&gt;alert(1).png" in page and "<script>alert(1)" not in page
    assert page.count('"masks":') == 1 and "\\u003cscript\\u003ealert(1).png" in page
    code, _, stderr = run_cli("dictionary", "mnist-cnn", "--image", "mnist:1", "--layer", "relu22", "-o", str(out))
    assert code == 2 and "relu2" in stderr
