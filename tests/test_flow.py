"""Attribution between layers (vizcnn.flow): exact on a hand-built linear network, complete within the tolerance
on mnist-cnn, and drawn as an SVG that Chromium shows without errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vizcnn.flow import TOLERANCE, layer_flow

from .conftest import run_cli
from .test_browser import XSS, _chromium, browser  # noqa: F401  (fixture)


class Linear2(nn.Module):
    """x -> A = 1x1 conv (1 -> 2) -> B = 1x1 conv (2 -> 3) -> per-channel sums -> logits; no bias, no ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 1, bias=False)
        self.b = nn.Conv2d(2, 3, 1, bias=False)
        self.head = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.a.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
            self.b.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0], [3.0, 0.0]]).view(3, 2, 1, 1))
            self.head.weight.copy_(torch.tensor([[1.0, 2.0, -1.0], [0.0, 1.0, 1.0]]))

    def forward(self, x):
        return self.head(self.b(self.a(x)).sum(dim=(2, 3)))


def test_edges_are_exact_on_a_linear_network():
    import vizcnn

    model = vizcnn.load_model(Linear2(), input_size=(1, 2, 2), categories=["p", "q"], device="cpu")
    x = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]]]])  # normalized input (mean 0, std 1)
    flow = layer_flow(model, x, "a", "b", "p", top=3, n_steps=4)
    # by hand: A_i = w_i * sum(x) = [4, 8]; edge[i, j] = head[p, j] * W_b[j, i] * A_i
    a_sum = torch.tensor([1.0, 2.0]) * 4.0
    wb = torch.tensor([[1.0, -1.0], [0.5, 2.0], [3.0, 0.0]])
    v = torch.tensor([1.0, 2.0, -1.0])
    expected = (v[:, None] * wb * a_sum[None, :]).T  # (A channel i, B channel j)
    rows = [n.channel for n in flow.nodes_a]
    cols = [n.channel for n in flow.nodes_b]
    assert torch.allclose(flow.edges, expected[rows][:, cols], atol=1e-4)
    assert flow.objective == pytest.approx(float(v @ wb @ a_sum), abs=1e-4)  # f(a) - f(0), f linear
    assert max(flow.completeness.values()) < 1e-5


#: (image, class A, class B, nodes): a 0 that is not an 8, and a 4 the network finds 9-ish.
CASES = {"channels": ("mnist:7", 0, 8), "groups": ("mnist:76", 4, 9)}


@pytest.fixture(scope="module")
def mnist_flows(mnist_cnn):
    from vizcnn.data import load_image

    return {
        mode: (load_image(name), a, b, layer_flow(mnist_cnn, load_image(name), "relu2", "relu3", str(a), vs=str(b), mode=mode))
        for mode, (name, a, b) in CASES.items()
    }


def _logits_with_a(model, image, a):
    """Logits when relu2's output is replaced by ``a``, with a plain forward hook."""
    handle = model.net.relu2.register_forward_hook(lambda _m, _i, _o: a)
    try:
        with torch.no_grad():
            return model.net(model.preprocess(image))[0]
    finally:
        handle.remove()


@pytest.mark.parametrize("mode", ["channels", "groups"])
def test_completeness_on_mnist_cnn(mnist_cnn, mnist_flows, mode):
    image, a, b, flow = mnist_flows[mode]
    seen = {}
    handle = mnist_cnn.net.relu2.register_forward_hook(lambda _m, _i, out: seen.setdefault("a", out.detach()))
    try:
        with torch.no_grad():
            mnist_cnn.net(mnist_cnn.preprocess(image))
    finally:
        handle.remove()
    full, empty = _logits_with_a(mnist_cnn, image, seen["a"]), _logits_with_a(mnist_cnn, image, torch.zeros_like(seen["a"]))
    target = float(full[a] - full[b]) - float(empty[a] - empty[b])
    assert flow.objective == pytest.approx(target, rel=1e-4)
    scale = max(abs(n.attribution) for n in flow.nodes_a + flow.nodes_b)
    b_nodes = torch.tensor([n.attribution for n in flow.nodes_b])
    a_nodes = torch.tensor([n.attribution for n in flow.nodes_a])
    # the edges into each B node sum to its conductance, out of each A node to its integrated gradients
    assert (flow.edges.sum(0) - b_nodes).abs().max() <= TOLERANCE * scale
    assert (flow.edges.sum(1) - a_nodes).abs().max() <= TOLERANCE * scale
    # each layer's nodes (the pooled rest included) sum to f(a) - f(0)
    assert abs(float(b_nodes.sum()) - target) <= TOLERANCE * scale
    assert abs(float(a_nodes.sum()) - target) <= TOLERANCE * scale
    # the class edges of the contrast: conductance to logit A minus to logit B is the node's own
    assert torch.allclose(flow.to_classes[:, 0] - flow.to_classes[:, 1], b_nodes, atol=TOLERANCE * scale)
    if mode == "channels":
        assert flow.nodes_a[-1].label == "other channels" and len(flow.nodes_a) == 6
    else:
        assert [n.label for n in flow.nodes_b] == [f"group {g}" for g in range(4)]
    assert repr(flow).startswith(f"Flow(mnist-cnn relu2 -> relu3 -> {a} - {b}: ")


def test_flow_page_in_chromium(mnist_cnn, mnist_flows, browser, tmp_path):
    from vizcnn.flow import render_features

    flow = mnist_flows["groups"][3]
    flow.classes = [f"{XSS}4", "9"]  # a class name that looks like markup stays text
    render_features(flow, mnist_cnn, steps=2)
    path = flow.save(tmp_path / "flow.html")
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    widths = page.eval_on_selector_all("svg.fl path.edge", "els => els.map(e => [e.querySelector('title').textContent, Number(e.getAttribute('stroke-width'))])")
    assert len(widths) == 4 * 4 + 4 * 2
    by_value = sorted((abs(float(t.rsplit(": ", 1)[1])), w) for t, w in widths)
    assert [w for _, w in by_value] == sorted(w for _, w in by_value)  # wider edge, more attribution
    assert page.locator("svg.fl g.node image").count() == 8 + 8  # feature and mask of every group
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") in ("path", "g")
    assert f"{XSS}4" in page.text_content("svg.fl") and page.locator("script").count() == 0
    assert errors == [] and all(u.startswith(("file:", "data:")) for u in requests)
    page.close()


def test_cli_flow(tmp_path):
    out = tmp_path / "d"
    code, stdout, stderr = run_cli("dictionary", "mnist-cnn", "--image", "mnist:7", "--layer", "relu3", "--to-layer",
                                   "fc1", "--fv-steps", "0", "--targets", "0", "8", "-o", str(out))  # fmt: skip
    assert code == 0, stderr
    assert "relu3 -> fc1 -> 0 - 8" in stdout and (out / "flow.html").stat().st_size > 0
    code, _, stderr = run_cli("dictionary", "mnist-cnn", "--image", "mnist:7", "--layer", "relu3", "--to-layer", "relu2")
    assert code == 2 and "must come after" in stderr
    code, _, stderr = run_cli("dictionary", "mnist-cnn", "--image", "mnist:7", "--layer", "relu3", "--flow", "edges")
    assert code == 2 and "channels, groups" in stderr
