"""Channel attribution: the mathematics on hand-built nets, trained MNIST and AlexNet (random weights)."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch
from PIL import Image
from torch import nn

from vizcnn.attribution import METHODS, ChannelAttribution, ClassContrast, randomization_check, resolve_method
from vizcnn.data import load_image
from vizcnn.errors import VizcnnError
from vizcnn.hooks import capture
from vizcnn.models import InputSpec, Model

from .conftest import run_cli

ALL = list(METHODS)


def tiny_model() -> Model:
    """conv 1x1 (2 channels) -> flatten -> linear without bias: logits are linear in the conv output."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(), nn.Linear(2 * 3 * 3, 3, bias=False))
    return Model("tiny", net, InputSpec(1, 3, (0.0,), (1.0,)), ["a", "b", "<script>c</script>"], {"conv": "0"})


def no_hooks(net: nn.Module) -> bool:
    return all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks and not m._backward_pre_hooks
        for m in net.modules()
    )


@pytest.fixture(scope="module")
def digit():
    return load_image("mnist:144")


def test_grad_x_act_equals_hand_computed_value_on_a_linear_head():
    model = tiny_model()
    x = torch.randn(1, 1, 3, 3)
    conv, lin = model.net[0], model.net[2]
    act = (conv.weight.view(2, 1, 1) * x[0] + conv.bias.view(2, 1, 1)).detach()  # (2, 3, 3)
    for target, vs in ((0, None), (1, 2)):
        w = lin.weight[target] - (lin.weight[vs] if vs is not None else 0)
        expected = w.detach().view(2, 3, 3) * act
        attr = ChannelAttribution(model, "conv").attribute(x, target, vs=vs)
        torch.testing.assert_close(attr.tensor, expected)
        # with a linear head, grad x act is complete: the attributions sum to the objective
        assert attr.total == pytest.approx(attr.objective, abs=1e-5)
        logits = model.net(x)[0].detach()
        assert attr.objective == pytest.approx(float(logits[target] - (logits[vs] if vs is not None else 0)), abs=1e-6)


def test_sums_agree(mnist_cnn, digit):
    attr = ChannelAttribution(mnist_cnn, "conv2").attribute(digit, "4", vs="9")
    assert attr.tensor.shape == (32, 28, 28)
    assert attr.channels.shape == (32,) and attr.spatial.shape == (28, 28)
    assert float(attr.channels.sum()) == pytest.approx(attr.total, rel=1e-5, abs=1e-5)
    assert float(attr.spatial.sum()) == pytest.approx(attr.total, rel=1e-5, abs=1e-5)
    top = attr.top(5)
    assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)
    assert top[0][1] == pytest.approx(float(attr.channels.max()))


def test_grad_x_act_matches_autograd(mnist_cnn, digit):
    """captum's result equals d(objective)/d(activation) * activation computed directly."""
    x = mnist_cnn.preprocess(digit)
    layer = mnist_cnn.layer("conv3").module
    with capture(mnist_cnn.net, {"l": layer}, stop=False) as cap:
        logits = cap.run(x)
        act = cap["l"]
        grad = torch.autograd.grad(logits[0, 4] - logits[0, 9], act)[0]
    expected = (grad * act)[0].detach()
    attr = ChannelAttribution(mnist_cnn, "conv3").attribute(digit, 4, vs=9)
    torch.testing.assert_close(attr.tensor, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["LayerGradientXActivation", "LayerIntegratedGradients"])
def test_contrast_equals_difference(mnist_cnn, digit, method):
    algo = ChannelAttribution(mnist_cnn, "conv2", method)
    a = algo.attribute(digit, "4", n_steps=8)
    b = algo.attribute(digit, "9", n_steps=8)
    ab = algo.attribute(digit, "4", vs="9", n_steps=8)
    torch.testing.assert_close(ab.tensor, a.tensor - b.tensor, rtol=1e-3, atol=1e-5)
    assert ab.objective == pytest.approx(a.objective - b.objective, abs=1e-5)


def test_integrated_gradients_completeness(mnist_cnn, digit):
    attr = ChannelAttribution(mnist_cnn, "conv2", "ig").attribute(digit, "4", vs="9", n_steps=50)
    x = mnist_cnn.preprocess(digit)
    black = mnist_cnn.input.normalize(torch.zeros_like(x))
    with torch.no_grad():
        fx, fb = mnist_cnn.net(x)[0], mnist_cnn.net(black)[0]
    gap = float((fx[4] - fx[9]) - (fb[4] - fb[9]))
    assert attr.baseline_objective == pytest.approx(float(fb[4] - fb[9]), abs=1e-5)
    assert attr.total - gap == pytest.approx(attr.delta, abs=1e-4)
    assert abs(attr.total - gap) <= abs(attr.delta) + 1e-4
    assert abs(attr.delta) < 0.05 * abs(gap) + 0.01  # 50 Gauss-Legendre steps converge on this net


@pytest.mark.parametrize("method", ALL)
def test_zeroed_channel_gets_zero_attribution(mnist_cnn, digit, method):
    broken = dataclasses.replace(mnist_cnn, net=copy.deepcopy(mnist_cnn.net))
    with torch.no_grad():
        broken.net.conv2.weight[5].zero_()  # conv2 has no bias: channel 5 is zero everywhere
    attr = ChannelAttribution(broken, "conv2", method).attribute(digit, "4", vs="9", n_steps=8)
    assert torch.count_nonzero(attr.tensor[5]) == 0
    assert attr.channels[5] == 0
    assert torch.count_nonzero(attr.channels) >= 20
    assert no_hooks(broken.net)


@pytest.mark.parametrize("method", ALL)
def test_alexnet_full_path(alexnet, method):
    torch.manual_seed(1)
    image = Image.fromarray((torch.rand(240, 260, 3) * 255).byte().numpy())
    attr = ChannelAttribution(alexnet, "conv5", method).attribute(
        image, "Labrador retriever", vs="tiger cat", n_steps=4
    )
    assert (attr.target, attr.vs) == (208, 282)
    assert attr.tensor.shape == (256, 13, 13)
    assert attr.objective == pytest.approx(float(attr.logits[208] - attr.logits[282]), abs=1e-5)
    assert float(attr.channels.sum()) == pytest.approx(float(attr.spatial.sum()), rel=1e-4, abs=1e-5)
    if method == "LayerIntegratedGradients":
        gap = attr.objective - attr.baseline_objective
        assert attr.total - gap == pytest.approx(attr.delta, abs=1e-3)
    assert no_hooks(alexnet.net)


def test_bad_names_raise_with_close_matches(alexnet):
    algo = ChannelAttribution(alexnet, "conv5")
    with pytest.raises(VizcnnError, match="Labrador retriever"):
        algo.attribute(torch.zeros(3, 224, 224), "Labrador retreiver")
    with pytest.raises(VizcnnError, match="LayerIntegratedGradients"):
        resolve_method("integrated-gradient")
    assert resolve_method("GRAD-X-ACT") == "LayerGradientXActivation"
    with pytest.raises(VizcnnError, match="same class"):
        algo.attribute(torch.zeros(3, 224, 224), 208, vs="Labrador retriever")
    with pytest.raises(VizcnnError, match="shape"):
        algo.attribute(torch.zeros(1, 28, 28), 208)


def test_hooks_removed_after_an_exception(mnist_cnn, digit):
    net = copy.deepcopy(mnist_cnn.net)
    model = dataclasses.replace(mnist_cnn, net=net)

    def boom(*_):
        raise RuntimeError("boom")

    handle = net.fc1.register_forward_hook(boom)
    try:
        for method in ALL:
            with pytest.raises(RuntimeError, match="boom"):
                ChannelAttribution(model, "conv2", method).attribute(digit, 4, n_steps=4)
    finally:
        handle.remove()
    assert no_hooks(net)


def test_class_contrast_is_one_objective():
    model = tiny_model()
    x = torch.randn(4, 1, 3, 3)
    logits = model.net(x)
    torch.testing.assert_close(ClassContrast(model.net, 0, 2)(x), logits[:, 0] - logits[:, 2])
    torch.testing.assert_close(ClassContrast(model.net, 1)(x), logits[:, 1])


def test_randomization_check_changes_attributions_and_leaves_model(mnist_cnn, digit):
    before = {k: v.clone() for k, v in mnist_cnn.net.state_dict().items()}
    check = randomization_check(mnist_cnn, digit, "conv3", "4", vs="9")
    assert [s["randomized"] for s in check.steps][:2] == ["fc2", "fc1"]
    assert check.steps[-1]["randomized"] == "conv1"
    assert check.steps[-1]["channels"] < 0.6
    assert all(torch.equal(before[k], v) for k, v in mnist_cnn.net.state_dict().items())
    assert check.to_png()[:8] == b"\x89PNG\r\n\x1a\n"
    again = ChannelAttribution(mnist_cnn, "conv3").attribute(digit, "4", vs="9")
    torch.testing.assert_close(again.tensor, check.original.tensor)


def test_cli_json_sorted_and_html(tmp_path):
    out = tmp_path / "a.html"
    code, stdout, stderr = run_cli(
        "attribute", "mnist-cnn", "--image", "mnist:144", "--layer", "conv2", "--target", "4", "--vs", "9",
        "-o", str(out), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    data = json.loads(stdout)
    assert (data["target"], data["vs"], data["layer"], data["method"]) == (
        "4",
        "9",
        "conv2",
        "LayerGradientXActivation",
    )
    values = [c["attribution"] for c in data["channels"]]
    assert len(values) == 32 and values == sorted(values, reverse=True)
    assert sorted(c["channel"] for c in data["channels"]) == list(range(32))
    assert sum(values) == pytest.approx(data["total"], rel=1e-4, abs=1e-4)
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_errors_exit_2(torch_home, tmp_path):
    code, _, err = run_cli(
        "attribute", "alexnet", "--image", "mnist:1", "--layer", "conv5", "--target", "Labrador retreiver",
        "-o", str(tmp_path / "x.html"),
    )  # fmt: skip
    assert code == 2 and "Labrador retriever" in err and "Traceback" not in err
    code, _, err = run_cli(
        "attribute", "mnist-cnn", "--image", "mnist:1", "--layer", "conv2", "--target", "4", "--method", "gradcam",
        "-o", str(tmp_path / "x.html"),
    )  # fmt: skip
    assert code == 2 and "LayerGradCam" in err
    assert not (tmp_path / "x.html").exists()


def test_html_escapes_class_and_file_names(tmp_path):
    from vizcnn.dictionary import attribution_dictionary

    model = tiny_model()
    path = tmp_path / "<script>alert(1).png"
    Image.new("L", (3, 3), 128).save(path)
    result = attribution_dictionary(model, load_image(path), "conv", 2, vs="a", source=str(path), top=2)
    page = result.to_html()
    assert "<script>" not in page
    assert "&lt;script&gt;c&lt;/script&gt;" in page and "&lt;script&gt;alert(1).png" in page


# -- against captum called directly --------------------------------------------
# The same model, layer and input given to captum's own classes, with the
# objective written here as a plain function and the black baseline computed
# from MNIST's published normalization (mean 0.1307, std 0.3081).

BLACK = (0.0 - 0.1307) / 0.3081


def _captum_direct(net, layer, x, method: str, target: int, vs: int | None = None):
    from captum.attr import LayerDeepLift, LayerGradCam, LayerIntegratedGradients

    def objective(inp):
        logits = net(inp)
        return logits[:, target] - (logits[:, vs] if vs is not None else 0)

    baseline = torch.full_like(x, BLACK)
    if method == "LayerGradCam":
        return LayerGradCam(objective, layer).attribute(x, attr_dim_summation=False)[0].detach(), None
    if method == "LayerDeepLift":
        # DeepLift hooks the modules of a model, so captum wants the model as an nn.Module
        class Objective(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, inp):
                return objective(inp)

        attr, delta = LayerDeepLift(Objective(), layer).attribute(x, baselines=baseline, return_convergence_delta=True)
        return attr[0].detach(), float(delta.sum())
    attr, delta = LayerIntegratedGradients(objective, layer).attribute(
        x, baselines=baseline, n_steps=50, return_convergence_delta=True
    )
    return attr[0].detach(), float(delta.sum())


@pytest.mark.parametrize("method", ["LayerGradCam", "LayerDeepLift"])
@pytest.mark.parametrize("vs", [None, 9])
def test_gradcam_and_deeplift_equal_captum_called_directly(mnist_cnn, digit, method, vs):
    ours = ChannelAttribution(mnist_cnn, "conv2", method).attribute(digit, "4", vs=None if vs is None else "9")
    x = mnist_cnn.preprocess(digit)
    expected, delta = _captum_direct(mnist_cnn.net, mnist_cnn.net.conv2, x, method, 4, vs)
    assert ours.tensor.shape == expected.shape == (32, 28, 28)
    torch.testing.assert_close(ours.tensor, expected.float().cpu(), rtol=1e-5, atol=1e-6)
    if method == "LayerDeepLift":
        logits = mnist_cnn.net(x)[0].detach()
        black_logits = mnist_cnn.net(torch.full_like(x, BLACK))[0].detach()
        f = lambda z: float(z[4] - (z[9] if vs is not None else 0))  # noqa: E731
        assert ours.baseline_objective == pytest.approx(f(black_logits), abs=1e-5)  # the baseline is the black digit
        assert ours.delta == pytest.approx(delta, abs=1e-5)
        # captum's delta: the attributions' sum minus the objective's change from the baseline
        assert ours.total - (f(logits) - f(black_logits)) == pytest.approx(ours.delta, abs=1e-4)
        # (not asserted small: DeepLift's rescale rule through max pooling is not exact on this network)
    else:
        assert ours.delta is None and ours.baseline_objective is None


@pytest.mark.parametrize("method, captum_name", [("ig", "LayerIntegratedGradients"), ("deeplift", "LayerDeepLift"),
                                                 ("grad-cam", "LayerGradCam")])  # fmt: skip
def test_cli_json_equals_captum_called_directly(mnist_cnn, digit, tmp_path, method, captum_name):
    code, out, err = run_cli(
        "attribute", "mnist-cnn", "--image", "mnist:144", "--layer", "conv2", "--target", "4", "--method", method,
        "-o", str(tmp_path / "a.html"), "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["method"] == captum_name
    x = mnist_cnn.preprocess(digit)
    expected, delta = _captum_direct(mnist_cnn.net, mnist_cnn.net.conv2, x, captum_name, 4)
    per_channel = expected.float().cpu().sum(dim=(1, 2))
    got = {c["channel"]: c["attribution"] for c in data["channels"]}
    assert sorted(got) == list(range(32))
    for c in range(32):
        assert got[c] == pytest.approx(float(per_channel[c]), rel=1e-4, abs=1e-5), c
    if delta is None:
        assert data["delta"] is None
    else:
        assert data["delta"] == pytest.approx(delta, abs=1e-5)
