"""Model zoo, layer names, weights loading, hooks and the CLI basics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import vizcnn
from vizcnn.errors import VizcnnError, WeightsNotFoundError
from vizcnn.hooks import capture, forward_to
from vizcnn.models import get_spec, layer_table, list_models, load_model

from .conftest import run_cli

ALEXNET_PATHS = {
    "conv1": "features.0", "relu1": "features.1", "pool1": "features.2", "conv2": "features.3", "pool2": "features.5",
    "conv3": "features.6", "conv4": "features.8", "conv5": "features.10", "relu5": "features.11", "pool5": "features.12",
    "fc6": "classifier.1", "relu6": "classifier.2", "fc7": "classifier.4", "relu7": "classifier.5", "fc8": "classifier.6",
}  # fmt: skip


@pytest.mark.parametrize("alias,path", sorted(ALEXNET_PATHS.items()))
def test_alexnet_alias_maps_to_module_path(alexnet, alias, path):
    layer = alexnet.layer(alias)
    assert layer.path == path
    assert layer.module is dict(alexnet.net.named_modules())[path]
    assert alexnet.layer(path).module is layer.module  # module paths work too
    assert alexnet.layer(path.replace(".", "_")).module is layer.module  # lucent-style names


def test_alexnet_alias_types(alexnet):
    assert all(isinstance(alexnet.layer(f"conv{i}").module, nn.Conv2d) for i in range(1, 6))
    assert all(isinstance(alexnet.layer(f"fc{i}").module, nn.Linear) for i in (6, 7, 8))
    assert all(isinstance(alexnet.layer(p).module, nn.MaxPool2d) for p in ("pool1", "pool2", "pool5"))
    assert alexnet.layer("fc8").module.out_features == 1000


@pytest.mark.parametrize("name", ["mnist-cnn", "lenet"])
def test_mnist_aliases_are_module_paths(name):
    model = load_model(name, "random", device="cpu")
    for alias, path in model.aliases.items():
        assert alias == path and model.layer(alias).module is dict(model.net.named_modules())[path]
    assert model.categories == [str(d) for d in range(10)]
    assert model.input.shape == (1, 28, 28)


def test_unknown_layer_lists_close_matches(alexnet):
    with pytest.raises(VizcnnError) as exc:
        alexnet.layer("conv6")
    msg = str(exc.value)
    assert "conv5" in msg and "conv1" in msg and "vizcnn layers alexnet" in msg


def test_unknown_model_lists_close_matches():
    with pytest.raises(VizcnnError, match="alexnet"):
        load_model("alexnt")
    with pytest.raises(VizcnnError, match="resnet18"):
        load_model("torchvision:resnet81")


def test_alexnet_loads_from_torch_cache(torch_home):
    model = load_model("alexnet", device="cpu")
    assert not model.net.training
    assert str(torch_home) in model.weights
    # the weights are the ones saved in the cache, not a fresh random init
    saved = torch.load(next((torch_home / "hub" / "checkpoints").iterdir()), weights_only=True)
    assert torch.equal(model.net.features[0].weight, saved["features.0.weight"])
    # in-place ReLUs are switched off (captum's layer attribution needs that)
    assert not any(getattr(m, "inplace", False) for m in model.net.modules())
    assert len(model.categories) == 1000 and model.categories[208] == "Labrador retriever"
    assert model.class_index("tiger cat") == 282
    assert model.input.size == 224 and model.input.resize == 256


def test_missing_weights_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as exc:
        load_model("alexnet")
    msg = str(exc.value)
    assert str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in msg
    assert "--weights" in msg and "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in msg


def test_missing_weights_cli_exit_code_no_traceback(tmp_path):
    env = {"TORCH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "VIZCNN_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "vizcnn", "layers", "alexnet"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--weights FILE" in proc.stderr


def test_weights_file_safetensors_and_pth(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    net = get_spec("lenet").build(10)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pth")
    for f in ("w.safetensors", "w.pth"):
        model = load_model("lenet", tmp_path / f, device="cpu")
        assert torch.equal(model.net.conv1.weight, state["conv1.weight"])


def test_mismatched_weights_name_keys(tmp_path):
    torch.save(get_spec("lenet").build(10).state_dict(), tmp_path / "lenet.pth")
    with pytest.raises(VizcnnError, match="do not match the architecture"):
        load_model("mnist-cnn", tmp_path / "lenet.pth")


def test_torchvision_models_by_name():
    model = load_model("torchvision:resnet18", "random", device="cpu")
    assert model.layer("conv1").path == "conv1" and model.layer("fc1").path == "fc"
    assert model.layer("conv2").path == "layer1.0.conv1"  # forward order
    assert len(model.categories) == 1000


def test_class_index():
    model = load_model("mnist-cnn", "random", device="cpu")
    assert model.class_index("4") == 4 and model.class_index(9) == 9
    with pytest.raises(VizcnnError, match="out of range"):
        model.class_index(10)


def test_class_name_close_match(alexnet):
    with pytest.raises(VizcnnError, match="Labrador retriever"):
        alexnet.class_index("labrador retreiver")


def test_hooks_stop_early_and_are_removed(alexnet):
    x = torch.randn(2, 3, 224, 224)
    ran = []
    handle = alexnet.net.classifier.register_forward_hook(lambda *a: ran.append("classifier"))
    try:
        acts = forward_to(alexnet.net, {"conv2": alexnet.layer("conv2").module}, x)
    finally:
        handle.remove()
    assert ran == []  # the classifier never ran
    with torch.no_grad():
        full = alexnet.net.features[:4](x)
    torch.testing.assert_close(acts["conv2"], full)
    assert all(not m._forward_hooks for m in alexnet.net.modules())


def test_hooks_removed_after_exception(alexnet):
    with pytest.raises(RuntimeError):
        with capture(alexnet.net, {"conv1": alexnet.layer("conv1").module}):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in alexnet.net.modules())


def test_layer_table_alexnet(alexnet):
    rows = {r.name: r for r in layer_table(alexnet.net, alexnet.input.shape, dict(alexnet.aliases))}
    assert rows["conv1"].output == [64, 55, 55] and rows["conv1"].weights == 64 * 3 * 11 * 11 and rows["conv1"].biases == 64
    assert (rows["conv1"].kernel, rows["conv1"].stride, rows["conv1"].padding) == (11, 4, 2)
    assert rows["pool5"].output == [256, 6, 6] and rows["pool5"].receptive_field == 195 and rows["pool5"].jump == 32
    assert rows["conv5"].receptive_field == 163
    assert sum(r.weights + r.biases for r in rows.values()) == sum(p.numel() for p in alexnet.net.parameters())


def test_layers_cli_json():
    code, out, _ = run_cli("layers", "mnist-cnn", "--json")
    assert code == 0
    data = json.loads(out)
    rows = {r["name"]: r for r in data["layers"]}
    assert rows["conv1"]["output"] == [16, 28, 28] and rows["pool2"]["output"] == [64, 7, 7]
    assert rows["conv1"]["receptive_field"] == 5 and rows["conv2"]["receptive_field"] == 7
    assert rows["conv3"]["receptive_field"] == 12 and rows["conv3"]["jump"] == 2


def test_list_models():
    assert {"alexnet", "lenet", "mnist-cnn"} <= set(list_models())
    assert list_models("mnist*") == ["mnist-cnn"]


def test_version_and_help():
    code, out, _ = run_cli("--version")
    assert code == 0 and vizcnn.__version__ in out
    proc = subprocess.run([sys.executable, "-m", "vizcnn", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "arithmetic" in proc.stdout and "layers" in proc.stdout


def test_weights_files_that_are_not_state_dicts(tmp_path):
    torch.save({"model": nn.Linear(2, 2)}, tmp_path / "pickled.pt")  # a pickled module: refused by weights_only
    (tmp_path / "noise.pth").write_bytes(b"not a checkpoint")
    code, _, err = run_cli("layers", "lenet", "--weights", str(tmp_path / "pickled.pt"))
    assert code == 2 and "weights_only=True" in err and "state_dict()" in err and "Traceback" not in err
    code, _, err = run_cli("layers", "lenet", "--weights", str(tmp_path / "noise.pth"))
    assert code == 2 and "is not a weights file" in err


def test_bundled_photos(tmp_path):
    from vizcnn.data import load_image
    from vizcnn.data.images import PHOTOS, photo_path

    cat = load_image("photo:cat")
    assert cat.mode == "RGB" and cat.size == (451, 300)
    assert load_image("photo:espresso").size == (600, 400)
    sources = (photo_path("cat").parent / "SOURCES.txt").read_text()
    assert all(f"photo:{name}" in sources for name in PHOTOS) and sources.count("CC0") >= 2
    with pytest.raises(VizcnnError, match="unknown photo .photo:dog.*Valid photos: photo:cat, photo:espresso"):
        load_image("photo:dog")
    code, out, err = run_cli("activations", "alexnet", "conv1", "--weights", "random", "--image", "photo:cat", "-o", str(tmp_path / "cat.png"))
    assert code == 0 and (tmp_path / "cat.png").is_file(), err


def test_render_refuses_a_size_a_vit_cannot_take(tmp_path, monkeypatch):
    """torchvision's ViT asserts its image size; vizcnn says so in one paragraph and renders at the model's own size."""
    (tmp_path / "tiny_vit.py").write_text(
        "import torchvision\n"
        "def make():\n"
        "    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2,\n"
        "                                               hidden_dim=16, mlp_dim=16, num_classes=10)\n"
    )
    monkeypatch.chdir(tmp_path)
    args = ("render", "tiny_vit:make", "conv_proj:0", "--input-size", "3x32x32", "--steps", "2", "--quiet")
    code, _, err = run_cli(*args, "--size", "16", "-o", "a.png")
    assert code == 2 and "cannot take 16x16 images, only its own 32x32: use --size 32" in " ".join(err.split())
    assert "Traceback" not in err and not (tmp_path / "a.png").exists()
    code, out, err = run_cli(*args, "--size", "32", "-o", "b.png")
    assert code == 0, err
    from PIL import Image

    assert Image.open(tmp_path / "b.png").size[0] > 0


def test_layers_counts_every_parameter_of_a_vit():
    """The total includes parameters that sit in no listed layer (attention in-projections, position embeddings)."""
    import torchvision

    code, out, err = run_cli("layers", "torchvision:vit_b_16", "--weights", "random")
    assert code == 0, err
    expected = torchvision.models.ViT_B_16_Weights.DEFAULT.meta["num_params"]  # torchvision's own count: 86,567,656
    assert f"total parameters: {expected:,}" in out


def test_random_weights_are_the_same_network_in_every_process():
    """torch seeds each process differently; an untrained network (and so every render of it) must not change."""
    code = (
        "import torch, vizcnn\n"
        "for name in ('lenet', 'torchvision:resnet18'):\n"
        "    net = vizcnn.load_model(name, 'random', device='cpu').net\n"
        "    print(sum(float(p.detach().double().abs().sum()) for p in net.parameters()))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0].split()) == 2
    state = torch.get_rng_state()
    here = [sum(float(p.detach().double().abs().sum()) for p in load_model(n, "random", device="cpu").net.parameters())
            for n in ("lenet", "torchvision:resnet18")]  # fmt: skip
    assert [float(v) for v in runs[0].split()] == here
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is left alone
