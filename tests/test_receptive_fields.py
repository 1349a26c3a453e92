"""Receptive fields from the graph against independent measurements.

The measurement: all conv/linear weights set to 1/fan_in (positive), max pools
replaced by average pools, BatchNorm neutral (eval mode, fresh statistics), an
all-ones input, float64 (in float32 the faintest paths at the edge round away). Then the gradient of one unit near the centre of the layer's
map is nonzero exactly on the input pixels that unit sees; the gradient of its
right-hand neighbour is shifted by the jump. The input is chosen large enough
that the support does not touch the border (asserted, so a clipped measurement
fails instead of passing).
"""

from __future__ import annotations

import json
import os

import pytest
import torch
import torchvision
from torch import nn

from tests.conftest import run_cli
from vizcnn.models import layer_table
from vizcnn.models.receptive import receptive_fields


def _net(arch: str) -> nn.Module:
    extra = {"aux_logits": False, "init_weights": False} if arch in ("googlenet", "inception_v3") else {}
    return torchvision.models.get_model(arch, weights=None, **extra).eval()


def _measurable(net: nn.Module) -> nn.Module:
    """Positive weights, average pools for max pools, no biases: the gradient's support is the receptive field."""
    for name, module in list(net.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(module, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode))
            elif isinstance(child, nn.ReLU6):  # a clamp at 6 would cut the gradient where residual sums grow
                setattr(module, child_name, nn.ReLU())
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    return net


class _Stop(Exception):
    pass


def _measure(net: nn.Module, path: str, size: int, monkeypatch) -> tuple[int, int, float, int]:
    """(extent, jump, centre of the measured unit, its index) of the centre unit of ``path``, from gradients."""
    # Inception's blocks call F.max_pool2d directly: measure with average pools there too.
    monkeypatch.setattr(nn.functional, "max_pool2d", lambda x, kernel_size, stride=None, padding=0, *a, **k: nn.functional.avg_pool2d(x, kernel_size, stride, padding, ceil_mode=k.get("ceil_mode", False)))
    net = _measurable(net).double()  # float32 rounds the faintest paths at the field's edge away
    module = dict(net.named_modules())[path]
    kept = {}

    def hook(_m, _i, out):
        kept["out"] = out
        raise _Stop

    x = torch.ones(1, 3, size, size, dtype=torch.double, requires_grad=True)
    handle = module.register_forward_hook(hook)
    try:
        net(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    out = kept["out"]
    h, w = out.shape[-2:]
    cy, cx = h // 2, w // 2
    supports = []
    for ux in (cx, cx + 1):
        (grad,) = torch.autograd.grad(out[0, :, cy, ux].sum(), x, retain_graph=True)
        cols = torch.nonzero(grad[0].abs().sum(0).sum(0) > 0).flatten()
        rows = torch.nonzero(grad[0].abs().sum(0).sum(1) > 0).flatten()
        assert rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1, "support touches the border: use a larger input"
        assert int(rows.max() - rows.min()) == int(cols.max() - cols.min())  # square
        supports.append((int(cols.min()), int(cols.max())))
    (l0, r0), (l1, _) = supports
    return r0 - l0 + 1, l1 - l0, (l0 + r0) / 2, cx


def _check(arch: str, path: str, size: int, monkeypatch) -> None:
    net = _net(arch)
    field = receptive_fields(net, (3, size, size))[path]
    extent, jump, centre, index = _measure(net, path, size, monkeypatch)
    assert field.exact
    assert field.size == (extent, extent)
    assert field.jump == (jump, jump)
    assert field.start[1] + index * jump == centre


# (network, module path, input side): the input is the smallest round size that holds the field.
# The default run covers six nets; VGG-16, ResNet-50 and the deep layers run with VIZCNN_SLOW=1.
FAST = [
    ("alexnet", "features.10", 224),  # conv5
    ("resnet18", "layer2", 160),
    ("inception_v3", "Mixed_5b", 128),
    ("googlenet", "inception3b", 160),
    ("densenet121", "features.transition1", 96),
    ("mobilenet_v2", "features.7", 160),
]
SLOW = [
    ("vgg16", "features.22", 128),  # conv4_3
    ("vgg16", "features.28", 240),  # conv5_3
    ("resnet50", "layer2", 160),
    ("resnet50", "layer4", 480),
    ("resnet18", "layer4", 480),
    ("densenet121", "features.transition2", 320),
    ("inception_v3", "Mixed_6b", 416),
    ("mobilenet_v2", "features.18", 544),
]
slow = pytest.mark.skipif(os.environ.get("VIZCNN_SLOW") != "1", reason="deep layers of big nets: set VIZCNN_SLOW=1")


@pytest.mark.parametrize("arch,path,size", FAST)
def test_graph_matches_gradient_support(arch, path, size, monkeypatch):
    _check(arch, path, size, monkeypatch)


@pytest.mark.slow
@slow
@pytest.mark.parametrize("arch,path,size", SLOW)
def test_graph_matches_gradient_support_deep_layers(arch, path, size, monkeypatch):
    _check(arch, path, size, monkeypatch)


def test_published_values():
    """Araujo et al. (Distill 2019) and the AlexNet/VGG papers' arithmetic: ResNet-18 layer4, Inception v3 Mixed_7c, AlexNet conv5, VGG-16 conv5_3.

    The field does not depend on the input size, so small inputs keep this cheap.
    """
    resnet = receptive_fields(_net("resnet18"), (3, 64, 64))["layer4"]
    assert resnet.size == (435, 435) and resnet.jump == (32, 32)
    assert receptive_fields(_net("inception_v3"), (3, 75, 75))["Mixed_7c"].size == (1311, 1311)
    assert receptive_fields(_net("alexnet"), (3, 224, 224))["features.10"].size == (163, 163)
    vgg16_features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])  # without the 120M-weight classifier
    assert receptive_fields(vgg16_features, (3, 32, 32))["28"].size == (196, 196)


class Block(nn.Module):
    """Two paths by hand: 3x3 then 3x3 conv beside a 1x1 shortcut, then a 3x3 stride-2 conv."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 1, 3, padding=1)
        self.b = nn.Conv2d(1, 1, 3, padding=1)
        self.short = nn.Conv2d(1, 1, 1, stride=1)
        self.down = nn.Conv2d(1, 1, 3, stride=2)

    def forward(self, x):
        return self.down(self.b(self.a(x)) + self.short(x))


def test_residual_branch_does_not_add_up():
    """The two paths see 5 px and 1 px, aligned on the same centre: the add sees 5, not 5 + 1."""
    fields = receptive_fields(Block(), (1, 16, 16))
    assert fields["short"].size == (1, 1)
    assert fields["b"].size == (5, 5)
    # the add sees the union (5), then a 3x3 stride-2 conv: 5 + 2 = 7, jump 2, unit 0 centred on pixel 1
    assert fields["down"].size == (7, 7) and fields["down"].jump == (2, 2) and fields["down"].start == (1.0, 1.0)


def test_exported_program_is_exact(tmp_path):
    import vizcnn

    program = torch.export.export(Block().eval(), (torch.zeros(2, 1, 16, 16),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, tmp_path / "block.pt2")
    model = vizcnn.load_model(tmp_path / "block.pt2", device="cpu")
    rows = {r.path: r for r in layer_table(model.net, model.input.shape, dict(model.aliases))}
    assert rows["down"].exact and rows["down"].receptive_field == 7 and rows["down"].jump == 2


def test_untraceable_graph_falls_back_to_the_chain_rule():
    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 1, 3)
            self.c2 = nn.Conv2d(1, 1, 3, stride=2)

        def forward(self, x):
            if x.sum() >= 0:  # data-dependent control flow: torch.fx cannot trace it
                x = self.c1(x)
            return self.c2(x)

    rows = {r.path: r for r in layer_table(Dynamic(), (1, 16, 16), {})}
    assert rows["c2"].receptive_field == 5 and rows["c2"].jump == 2 and not rows["c2"].exact


def test_layers_cli_resnet18_and_approximate_label(tmp_path, monkeypatch):
    code, out, _ = run_cli("layers", "torchvision:resnet18", "--weights", "random", "--json")
    assert code == 0
    rows = {r["path"]: r for r in json.loads(out)["layers"]}
    assert rows["layer4.1.conv2"]["receptive_field"] == 435 and rows["layer4.1.conv2"]["jump"] == 32
    assert rows["layer4.1.conv2"]["exact"] is True
    assert rows["fc"]["receptive_field"] == 224 and rows["fc"]["jump"] is None
    (tmp_path / "dyn_net.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3, stride=2)\n"
        "    def forward(self, x):\n        return self.c(x) if x.sum() > 0 else self.c(-x)\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("layers", "dyn_net:Net", "--input-size", "3,16,16")
    assert code == 0
    assert "approximate" in out


def test_examples_of_an_untraceable_net_say_approximate():
    import vizcnn
    from vizcnn.examples import top_examples

    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 2, 3)
            self.c2 = nn.Conv2d(2, 2, 3, stride=2)
            self.fc = nn.Linear(2 * 12 * 12, 10)

        def forward(self, x):
            if x.sum() >= 0:  # data-dependent: not traceable
                x = self.c1(x)
            return self.fc(self.c2(x).flatten(1))

    model = vizcnn.load_model(Dynamic(), input_size=(1, 28, 28), device="cpu")
    result = top_examples(model, "c2", 0, "sample", k=2, progress=False)
    rf = result.as_dict()["receptive_field"]
    assert rf == {"size": [5, 5], "jump": [2, 2], "start": [2.0, 2.0], "exact": False}
    assert all(b is not None and b[2] - b[0] == 5 for b in result.boxes)
