"""Bring your own model: import paths, TorchScript and exported files, timm, and the input flags.

The example CIFAR net is written once per session in every form by
examples/export_cifar_net.py; each form must give the same network (same
weights hash, same outputs, same layer names) and run through the commands.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import vizcnn
from vizcnn.errors import VizcnnError
from vizcnn.hooks import forward_to
from vizcnn.models.custom import (
    describe_input,
    parse_floats,
    parse_input_size,
    read_classes,
)

from .conftest import ROOT, require, run_cli

IMPORT = "examples.cifar_net:build"
SIZE = "3x32x32"


@pytest.fixture(autouse=True)
def in_repo_root(monkeypatch):
    """Import paths resolve from the current directory, as on the command line."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def forms(exported) -> dict[str, vizcnn.Model]:
    """The example net loaded in each form vizcnn accepts."""
    os.chdir(ROOT)
    return {
        "import": vizcnn.load_model(IMPORT, input_size=(3, 32, 32), device="cpu"),
        "import+weights": vizcnn.load_model(
            "examples.cifar_net:CifarNet", exported / "cifar_net.pth", input_size=(3, 32, 32), device="cpu"
        ),
        "exported": vizcnn.load_model(str(exported / "cifar_net.pt2"), device="cpu"),
        "torchscript": vizcnn.load_model(str(exported / "cifar_net.pt"), input_size=(3, 32, 32), device="cpu"),
    }


def test_every_form_is_the_same_network(forms):
    x = torch.rand(3, 3, 32, 32)
    reference = forms["import"]
    expected = reference(x)
    for name, model in forms.items():
        assert model.weights_hash == reference.weights_hash, name
        torch.testing.assert_close(model(x), expected, msg=name)
        assert model.input.shape == (3, 32, 32), name
        assert model.categories == [str(i) for i in range(10)], name
    aliases = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.7", "conv4": "features.10", "fc1": "classifier.1", "fc2": "classifier.3"}
    for name, model in forms.items():
        assert dict(model.aliases) == aliases, name


def test_weights_source_is_said(forms, exported):
    assert "its own initialisation" in forms["import"].weights
    assert forms["import+weights"].weights == str(exported / "cifar_net.pth")
    assert forms["exported"].weights.startswith("exported program")
    assert forms["torchscript"].weights.startswith("TorchScript file")


def test_exported_leaves_are_real_torch_modules(forms):
    model = forms["exported"]
    kinds = {p: type(m) for p, m in model.net.named_modules() if p and not list(m.children())}
    assert kinds["features.0"] is nn.Conv2d and kinds["features.1"] is nn.BatchNorm2d
    assert kinds["features.6"] is nn.MaxPool2d and kinds["classifier.0"] is nn.Flatten and kinds["classifier.3"] is nn.Linear
    conv = model.layer("conv2").module
    assert (conv.kernel_size, conv.padding, conv.in_channels, conv.out_channels) == ((3, 3), (1, 1), 32, 32)


def test_exported_leaves_keep_their_arguments(tmp_path):
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding="same"), nn.GELU(approximate="tanh"), nn.Conv2d(4, 4, 3, stride=2, groups=2, bias=False),
        nn.SiLU(), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.AvgPool2d(2), nn.Hardswish(), nn.Tanh(), nn.Flatten(),
        nn.Linear(16, 5), nn.Sigmoid(),
    ).eval()  # fmt: skip
    program = torch.export.export(net, (torch.rand(2, 3, 12, 12),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(tmp_path / "net.pt2"))
    model = vizcnn.load_model(str(tmp_path / "net.pt2"), device="cpu")
    for path, module in model.net.named_modules():
        if path and path != "7":
            assert repr(module) == repr(net[int(path)]), path
    assert type(model.net.get_submodule("7")).__name__ == "InterpreterModule"  # Hardswish: not rebuilt, still hookable
    x = torch.rand(3, 3, 12, 12)
    torch.testing.assert_close(model(x), net(x), rtol=0, atol=0)
    out = forward_to(model.net, {"h": model.layer("7").module}, x)["h"]
    torch.testing.assert_close(out, net[:8](x))
    assert dict(model.aliases) == {"conv1": "0", "conv2": "2", "fc1": "10"}


def test_exported_activations_match_the_python_model(forms):
    x = torch.rand(2, 3, 32, 32)
    ours = forms["exported"]
    theirs = forms["import"]
    a = forward_to(ours.net, {"c": ours.layer("conv3").module, "f": ours.layer("fc1").module}, x)
    b = forward_to(theirs.net, {"c": theirs.layer("conv3").module, "f": theirs.layer("fc1").module}, x)
    torch.testing.assert_close(a["c"], b["c"])
    torch.testing.assert_close(a["f"], b["f"])
    assert a["c"].shape == (2, 64, 16, 16)


def test_torchscript_refuses_hooks_with_an_explanation(forms):
    model = forms["torchscript"]
    with pytest.raises(VizcnnError, match="TorchScript model cannot run Python hooks.*torch.export.save"):
        forward_to(model.net, {"c": model.layer("conv1").module}, torch.rand(1, 3, 32, 32))
    # weights stay readable
    assert model.layer("conv1").module.weight.shape == (32, 3, 3, 3)


def test_layers_cli_in_every_form(exported):
    forms = {
        "import": [IMPORT, "--input-size", SIZE],
        "import+weights": ["examples.cifar_net:CifarNet", "--weights", str(exported / "cifar_net.pth"), "--input-size", SIZE],
        "exported": [str(exported / "cifar_net.pt2")],
        "torchscript": [str(exported / "cifar_net.pt"), "--input-size", SIZE],
    }
    tables = {}
    for name, argv in forms.items():
        code, out, err = run_cli("layers", *argv, "--json")
        assert code == 0, (name, err)
        tables[name] = json.loads(out)["layers"]
    reference = tables["import"]
    assert [(r["name"], r["path"], r["type"]) for r in reference][:2] == [("conv1", "features.0", "Conv2d"), ("features.1", "features.1", "BatchNorm2d")]
    for name, rows in tables.items():
        keys = ("name", "path", "type", "kernel", "stride", "weights", "biases", "receptive_field")
        assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in reference], name
    assert tables["exported"] == reference  # shapes too
    assert all(r["output"] == [] for r in tables["torchscript"])  # no hooks: shapes unknown
    code, out, _ = run_cli("layers", IMPORT, "--input-size", SIZE)
    assert code == 0 and "conv4" in out and "features.10" in out


@pytest.mark.parametrize("form", ["import", "exported"])
def test_commands_run_on_hookable_forms(form, exported, tmp_path):
    model = [IMPORT, "--input-size", SIZE] if form == "import" else [str(exported / "cifar_net.pt2")]
    code, out, err = run_cli("filters", *model, "conv1", "-o", str(tmp_path / "f.png"))
    assert code == 0, err
    loaded = vizcnn.load_model(*model[:1], input_size=(3, 32, 32) if form == "import" else None, device="cpu")
    drawn = vizcnn.filters.plot(loaded, "conv1").to_image()
    with Image.open(tmp_path / "f.png") as im:  # the grid the library draws (the exported weights are fixed)
        assert im.format == "PNG" and im.size == drawn.size
        if form == "exported":
            assert im.convert("RGB").tobytes() == drawn.convert("RGB").tobytes()
    code, out, err = run_cli("activations", *model, "conv2", "--image", "mnist:17", "-o", str(tmp_path / "a.png"), "--json")
    assert code == 0, err
    means = [c["mean"] for c in json.loads(out)["channels"]]
    assert len(means) == 8 and means == sorted(means, reverse=True)
    code, out, err = run_cli("render", *model, "conv2:0-1", "--steps", "3", "--size", "32", "--quiet", "-o", str(tmp_path / "r.png"))
    assert code == 0, err
    with Image.open(tmp_path / "r.png") as im:
        assert im.format == "PNG" and im.width > 2 * 32  # two 32 px renders side by side, labelled
    code, out, err = run_cli("attribute", *model, "--image", "mnist:7", "--layer", "conv2", "--target", "4", "--vs", "9", "-o", str(tmp_path / "at.html"), "--json")
    assert code == 0, err
    page = (tmp_path / "at.html").read_text()
    assert page.startswith("<!doctype html>") and json.loads(out)["target"] in page


def test_activations_agree_between_import_path_and_exported_file(exported, tmp_path):
    results = []
    for model in ([IMPORT, "--input-size", SIZE], [str(exported / "cifar_net.pt2")]):
        code, out, err = run_cli("activations", *model, "conv3", "--image", "mnist:3", "--channels", "0-5", "-o", str(tmp_path / "a.png"), "--json")
        assert code == 0, err
        results.append([(c["channel"], c["mean"], c["max"]) for c in json.loads(out)["channels"]])
    for (ca, ma, xa), (cb, mb, xb) in zip(*results):
        assert ca == cb and ma == pytest.approx(mb, abs=1e-5) and xa == pytest.approx(xb, abs=1e-5)


@pytest.mark.parametrize("command", ["activations", "render", "attribute"])
def test_torchscript_operations_that_need_hooks_fail_clearly(command, exported, tmp_path):
    model = [str(exported / "cifar_net.pt"), "--input-size", SIZE]
    argv = {
        "activations": ["conv2", "--image", "mnist:17", "-o", str(tmp_path / "a.png")],
        "render": ["conv2:0", "--steps", "2", "--size", "32", "--quiet", "-o", str(tmp_path / "r.png")],
        "attribute": ["--image", "mnist:7", "--layer", "conv2", "--target", "4", "-o", str(tmp_path / "a.html")],
    }[command]
    code, _, err = run_cli(command, *model, *argv)
    assert code == 2
    assert "TorchScript" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_a_module_or_program_object_works_in_a_notebook(exported):
    from examples.cifar_net import build

    net = build()
    model = vizcnn.load_model(net, input_size=(3, 32, 32), device="cpu")
    assert model.net is net and model.name == "CifarNet" and model.weights == "the module's own weights"
    assert model.aliases["fc2"] == "classifier.3"
    program = torch.export.export(net, (torch.rand(2, 3, 32, 32),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    from_program = vizcnn.load_model(program, device="cpu")
    assert from_program.input.shape == (3, 32, 32) and from_program.weights_hash == model.weights_hash
    scripted = vizcnn.load_model(torch.jit.script(net), input_size=(3, 32, 32), device="cpu")
    with pytest.raises(VizcnnError, match="TorchScript"):
        forward_to(scripted.net, {"c": scripted.layer("conv1").module}, torch.rand(1, 3, 32, 32))
    assert vizcnn.load_model(exported / "cifar_net.pt2", device="cpu").weights_hash == model.weights_hash  # a Path


# -- input description ---------------------------------------------------------
def test_guessed_input_size_error_names_the_flag():
    code, _, err = run_cli("layers", IMPORT)
    assert code == 2
    assert "1x3x224x224" in err and "--input-size" in err


def test_classes_file_as_lines_or_json(tmp_path, exported):
    names = [f"class {i}" for i in range(10)]
    (tmp_path / "c.json").write_text(json.dumps(names))
    assert read_classes(tmp_path / "c.json") == names
    assert read_classes(exported / "classes.txt")[:3] == ["airplane", "automobile", "bird"]
    model = vizcnn.load_model(IMPORT, input_size=(3, 32, 32), categories=read_classes(exported / "classes.txt"), device="cpu")
    assert model.class_index("cat") == 3
    with pytest.raises(VizcnnError, match="3 class names but the model has 10 outputs"):
        vizcnn.load_model(IMPORT, input_size=(3, 32, 32), categories=["a", "b", "c"], device="cpu")
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(VizcnnError, match="not valid JSON"):
        read_classes(tmp_path / "bad.json")


def test_mean_std_and_size_flags(tmp_path):
    assert parse_input_size("3x32x32") == (3, 32, 32) and parse_input_size("1x28") == (1, 28, 28)
    for bad, match in [("3x32x16", "not square"), ("big", "cannot read"), ("0x3x3", "cannot read")]:
        with pytest.raises(VizcnnError, match=match):
            parse_input_size(bad)
    assert parse_floats("0.5,0.25,1", "--mean") == (0.5, 0.25, 1.0)
    with pytest.raises(VizcnnError, match="--std"):
        parse_floats("a,b", "--std")
    spec = describe_input(None, (3, 32, 32), mean=(0.5,), std=(0.25, 0.5, 1.0))
    assert (spec.mean, spec.std) == ((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    x = torch.ones(1, 3, 2, 2)
    assert spec.normalize(x)[0, :, 0, 0].tolist() == [2.0, 1.0, 0.5]
    assert describe_input(None, (1, 28, 28)).mean == (0.0,)
    with pytest.raises(VizcnnError, match="2 values but the input has 3 channels"):
        describe_input(None, (3, 8, 8), mean=(0.1, 0.2))
    code, _, err = run_cli("layers", IMPORT, "--input-size", SIZE, "--mean", "0.5", "--std", "0.5,0.5", "--json")
    assert code == 2 and "--std has 2 values" in err


def test_zoo_models_take_the_flags_as_overrides(mnist_cnn):
    model = vizcnn.load_model("mnist-cnn", mean=(0.5,), std=(0.5,), categories=list("abcdefghij"), device="cpu")
    assert (model.input.mean, model.input.std, model.input.size) == ((0.5,), (0.5,), 28)
    assert model.class_index("c") == 2
    assert vizcnn.load_model("mnist-cnn", device="cpu").weights_hash == mnist_cnn.weights_hash


# -- error paths ---------------------------------------------------------------
@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module in the current directory with a few broken builders."""
    (tmp_path / "my_nets.py").write_text(
        "import torch.nn as nn\n"
        "def not_a_net():\n    return 3\n"
        "def broken():\n    raise RuntimeError('out of cheese')\n"
        "def tiny():\n    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 4))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("my_nets", None)


def test_import_errors(user_module):
    cases = {
        "no_such_pkg.nets:build": "cannot import module 'no_such_pkg.nets'",
        "my_nets:tinny": "Did you mean: 'tiny'",
        "my_nets:not_a_net": "returned a int, not a torch.nn.Module",
        "my_nets:broken": "calling my_nets:broken\\(\\) failed with RuntimeError: out of cheese",
    }
    for name, match in cases.items():
        with pytest.raises(VizcnnError, match=match):
            vizcnn.load_model(name, device="cpu")
    code, _, err = run_cli("layers", "no_such_pkg.nets:build")
    assert code == 2 and "Traceback" not in err
    model = vizcnn.load_model("my_nets:tiny", input_size=(1, 8, 8), device="cpu")
    assert dict(model.aliases) == {"conv1": "0", "fc1": "2"} and model.categories == ["0", "1", "2", "3"]


def test_weights_that_do_not_fit_name_the_keys(user_module, exported):
    with pytest.raises(VizcnnError, match="do not match the architecture.*missing keys: 0.weight.*unexpected keys: features.0.weight"):
        vizcnn.load_model("my_nets:tiny", exported / "cifar_net.pth", input_size=(1, 8, 8), device="cpu")


def test_saved_files_of_the_wrong_kind(exported, tmp_path):
    (tmp_path / "noise.pt").write_bytes(os.urandom(256))
    (tmp_path / "script.pt2").write_bytes((exported / "cifar_net.pt").read_bytes())
    (tmp_path / "program.pt").write_bytes((exported / "cifar_net.pt2").read_bytes())
    cases = {
        exported / "cifar_net.pth": "written by torch.save .*pass the architecture as MODEL",
        tmp_path / "noise.pt": "not a saved model",
        tmp_path / "script.pt2": "TorchScript file .* rename it to .pt",
        tmp_path / "program.pt": "exported program .* rename it to .pt2",
        tmp_path / "missing.pt2": "does not exist",
    }
    for path, match in cases.items():
        with pytest.raises(VizcnnError, match=match):
            vizcnn.load_model(str(path), device="cpu")
    with pytest.raises(VizcnnError, match="carries its own weights"):
        vizcnn.load_model(str(exported / "cifar_net.pt2"), exported / "cifar_net.pth", device="cpu")
    code, _, err = run_cli("layers", str(tmp_path / "noise.pt"))
    assert code == 2 and "Traceback" not in err


def test_exported_program_with_a_fixed_batch_is_refused(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()).eval()
    torch.export.save(torch.export.export(net, (torch.rand(1, 1, 6, 6),)), str(tmp_path / "fixed.pt2"))
    with pytest.raises(VizcnnError, match="fixed batch size of 1.*Dim\\('batch'\\)"):
        vizcnn.load_model(str(tmp_path / "fixed.pt2"), device="cpu")


def test_exported_size_cannot_be_overridden(exported):
    with pytest.raises(VizcnnError, match="exported for inputs of 3x32x32"):
        vizcnn.load_model(str(exported / "cifar_net.pt2"), input_size=(3, 64, 64), device="cpu")


# -- timm ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def timm_weights(tmp_path_factory) -> Path:
    """Random weights of timm's smallest test ResNet, saved as a state dict."""
    timm = require("timm", "timm is not installed (pip install 'vizcnn[timm]')")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("timm") / "test_resnet.safetensors"
    from safetensors.torch import save_file

    save_file(timm.create_model("test_resnet", pretrained=False).state_dict(), str(path))
    return path


def test_timm_with_weights_file(timm_weights, tmp_path):
    model = vizcnn.load_model("timm:test_resnet", timm_weights, device="cpu")
    assert model.input.shape == (3, 160, 160) and model.input.mean == (0.5, 0.5, 0.5)
    assert len(model.categories) == 1000 and model.categories[0] == "tench"
    assert model.aliases["conv1"] == "conv1.0" and "fc1" in model.aliases
    assert model.weights == str(timm_weights)
    code, out, err = run_cli("layers", "timm:test_resnet", "--weights", str(timm_weights))
    assert code == 0, err
    assert "3x160x160" in out and "conv1.0" in out
    code, out, err = run_cli("activations", "timm:test_resnet", "--weights", str(timm_weights), "conv2", "--image", "mnist:5", "-o", str(tmp_path / "a.png"), "--json")
    assert code == 0, err
    assert json.loads(out)["channels"]


def test_timm_default_weights_come_from_the_hub_cache(timm_weights, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    code, _, err = run_cli("layers", "timm:test_resnet")
    assert code == 2
    assert "models--timm--test_resnet.r160_in1k" in err and "--weights FILE" in err
    repo = tmp_path / "models--timm--test_resnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "model.safetensors").write_bytes(timm_weights.read_bytes())
    cached = vizcnn.load_model("timm:test_resnet", device="cpu")
    assert cached.weights_hash == vizcnn.load_model("timm:test_resnet", timm_weights, device="cpu").weights_hash


def test_unknown_timm_name():
    require("timm", "timm is not installed (pip install 'vizcnn[timm]')")
    with pytest.raises(VizcnnError, match="unknown timm model 'resnet181'.*resnet18"):
        vizcnn.load_model("timm:resnet181", device="cpu")


def test_torchscript_filters_read_the_weights(forms, exported, tmp_path):
    """filters needs no hooks, so it works on TorchScript and draws the same weights as the Python model."""
    code, out, err = run_cli("filters", str(exported / "cifar_net.pt"), "--input-size", SIZE, "conv1", "-o", str(tmp_path / "ts.png"))
    assert code == 0, err
    assert "32 filters of 3x3x3 (rgb" in out
    scripted, python = (vizcnn.filters.plot(forms[f], "conv1") for f in ("torchscript", "import"))
    assert torch.equal(scripted.weights, python.weights) and scripted.reduce == python.reduce == "rgb"
    with Image.open(tmp_path / "ts.png") as im:  # the file is the grid of those weights
        assert im.convert("RGB").tobytes() == scripted.to_image().convert("RGB").tobytes()


def _cifar_spec(folder: Path, model_table: str) -> Path:
    spec = folder / "cifar.toml"
    spec.write_text(
        '[render]\nsteps = 3\nsize = 32\ndiversity = 0\n[[models]]\n' + model_table
        + '\nviews = ["features", "filters"]\nlayers = [{ name = "conv2", channels = "0-1" }]\n',
        encoding="utf-8",
    )
    return spec


def test_gallery_spec_takes_the_input_description(exported, tmp_path):
    """A gallery spec describes a model that carries no input spec, as the CLI flags do; files are relative to it."""
    from vizcnn.gallery import build_gallery
    from vizcnn.gallery.spec import load_spec

    for f in ("cifar_net.pth", "cifar_net.pt2", "classes.txt"):
        (tmp_path / f).write_bytes((exported / f).read_bytes())
    table = (f'name = "{IMPORT}"\nweights = "cifar_net.pth"\ninput_size = "{SIZE}"\n'
             'mean = [0.5, 0.5, 0.5]\nstd = "0.25,0.25,0.25"\nclasses = "classes.txt"')  # fmt: skip
    spec, models = load_spec(_cifar_spec(tmp_path, table), allow_code=True)  # the spec names Python code
    model = models[0]
    classes = (exported / "classes.txt").read_text().split()
    assert model.input.shape == (3, 32, 32) and model.input.mean == (0.5,) * 3 and model.input.std == (0.25,) * 3
    assert list(model.categories) == classes
    assert dict(spec.models[0].load_options)["input_size"] == (3, 32, 32)
    report = build_gallery(spec, tmp_path / "site", models=models, progress=False)
    assert report.rendered == 2
    exported_spec, exported_models = load_spec(_cifar_spec(tmp_path, 'name = "cifar_net.pt2"'))
    assert exported_models[0].input.shape == (3, 32, 32)  # the file is found beside the spec


def test_gallery_spec_input_description_errors_name_the_key(tmp_path):
    from vizcnn.gallery.spec import load_spec

    for table, key in ((f'name = "{IMPORT}"\ninput_size = "big"', "input_size"),
                       (f'name = "{IMPORT}"\ninput_size = "{SIZE}"\nmean = ["a"]', "mean"),
                       (f'name = "{IMPORT}"\ninput_size = "{SIZE}"\nclasses = "missing.txt"', "classes")):  # fmt: skip
        with pytest.raises(VizcnnError) as info:
            load_spec(_cifar_spec(tmp_path, table))
        assert str(tmp_path / "cifar.toml") in str(info.value) and f"models[0].{key}" in str(info.value)
