"""No code from model files or specs: crafted files that would create a marker file if any code ran.

Each crafted file starts from a real one (examples/export_cifar_net.py) with one
member replaced by a pickle whose ``__reduce__`` runs ``touch MARKER`` through
the shell, or with a JSON field that torch would evaluate or call. Control
tests show the payloads are live (unpickling, or torch.export.load itself,
creates the marker); the others that vizcnn refuses each file with exit status
2, names the member, and that the marker does not exist.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from vizcnn.errors import VizcnnError
from vizcnn.gallery import build_gallery, load_spec

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


class _Touch:
    """Unpickling this runs ``touch MARKER`` in a shell."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_torch_save(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save(_Touch(marker), buf)
    return buf.getvalue()


def _rewrite(src: Path, dst: Path, change) -> Path:
    """Copy the zip archive ``src`` to ``dst``, passing each member (name inside the top folder, bytes) through ``change``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, change(info.filename.split("/", 1)[1], zin.read(info.filename)))
    return dst


def test_the_payload_runs_when_unpickled(tmp_path):
    """The control: the crafted pickle does create its marker when something unpickles it."""
    marker = tmp_path / "marker"
    torch.load(io.BytesIO(_evil_torch_save(marker)), weights_only=False)
    assert marker.is_file()


def _sample_inputs(marker):
    return lambda name, data: _evil_torch_save(marker) if name == "data/sample_inputs/model.pt" else data


def _pickled_weight(marker):
    def change(name, data):
        if name == "data/weights/model_weights_config.json":
            config = json.loads(data)
            config["config"]["features.0.weight"]["use_pickle"] = True
            return json.dumps(config).encode()
        return _evil_torch_save(marker) if name == "data/weights/weight_0" else data

    return change


def _opaque_constant(marker):
    def change(name, data):
        if name == "data/constants/model_constants_config.json":
            config = json.loads(data)
            config["config"]["c"] = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
            return json.dumps(config).encode()
        return data

    return change


def _graph_target(marker):
    """A node calling torch.os.system (torch's deserializer resolves targets by attribute lookup on torch)."""

    def change(name, data):
        if name == "models/model.json":
            program = json.loads(data)
            node = {"target": "torch.os.system", "inputs": [{"name": "", "arg": {"as_string": f"touch {marker}"}, "kind": 1}],
                    "outputs": [], "metadata": {}}  # fmt: skip
            program["graph_module"]["graph"]["nodes"].insert(0, node)
            return json.dumps(program).encode()
        return data

    return change


def _shape_expression(marker):
    """A symbolic shape expression, which torch hands to sympy.sympify (Python's eval)."""

    def change(name, data):
        if name == "models/model.json":
            text = data.decode()
            start = text.index('"expr_str": "') + len('"expr_str": "')
            end = text.index('"', start)
            return (text[:start] + f"__import__('os').system('touch {marker}') or s77" + text[end:]).encode()
        return data

    return change


CRAFTED_PT2 = {
    "sample-inputs": (_sample_inputs, "data/sample_inputs/model.pt"),
    "use_pickle-weight": (_pickled_weight, "data/weights/weight_0"),
    "opaque-constant": (_opaque_constant, "data/constants/opaque_obj_0"),
    "graph-target": (_graph_target, "models/model.json"),
    "shape-expression": (_shape_expression, "models/model.json"),
}


@pytest.mark.parametrize("variant", sorted(CRAFTED_PT2))
def test_crafted_exported_program_runs_no_code(exported, tmp_path, variant):
    craft, member = CRAFTED_PT2[variant]
    marker = tmp_path / "marker"
    path = _rewrite(exported / "cifar_net.pt2", tmp_path / "crafted.pt2", craft(marker))
    code, out, err = run_cli("layers", str(path))
    assert code == 2 and out == ""
    message = " ".join(err.split())
    assert f"its member '{member}'" in message and "Traceback" not in err
    assert not marker.exists()


@pytest.mark.parametrize("variant", ["sample-inputs", "use_pickle-weight", "shape-expression"])
def test_torch_export_load_itself_runs_the_payload(exported, tmp_path, variant):
    """Why the check exists: torch.export.load runs these files' code (then may fail or not)."""
    marker = tmp_path / "marker"
    path = _rewrite(exported / "cifar_net.pt2", tmp_path / "crafted.pt2", CRAFTED_PT2[variant][0](marker))
    try:
        torch.export.load(str(path))
    except Exception:  # the crafted member is not what torch expected after running it
        pass
    assert marker.is_file()


def test_the_genuine_exported_program_still_loads(exported):
    code, out, err = run_cli("layers", str(exported / "cifar_net.pt2"))
    assert code == 0, err
    assert "total parameters: 591,658" in out


def test_an_old_format_exported_program_is_refused(exported, tmp_path):
    """torch 2.7's layout: serialized_state_dict.pt and friends, pickles loaded with the full unpickler."""
    marker = tmp_path / "marker"
    path = tmp_path / "old.pt2"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("version", "8.0")
        z.writestr("serialized_exported_program.json", "{}")
        z.writestr("serialized_state_dict.pt", _evil_torch_save(marker))
    code, _out, err = run_cli("layers", str(path))
    assert code == 2 and "torch 2.7 or older" in " ".join(err.split())
    assert not marker.exists()


@pytest.mark.parametrize("member", ["constants.pkl", "data.pkl"])
def test_crafted_torchscript_pickle_is_refused(exported, tmp_path, member):
    marker = tmp_path / "marker"
    evil = pickle.dumps(_Touch(marker), protocol=2)
    path = _rewrite(exported / "cifar_net.pt", tmp_path / "crafted.pt", lambda name, data: evil if name == member else data)
    code, out, err = run_cli("layers", str(path), "--input-size", "3x32x32")
    message = " ".join(err.split())
    assert code == 2 and out == ""
    assert f"its member '{member}'" in message and "posix.system" in message
    assert not marker.exists()


def test_genuine_torchscript_still_loads(exported):
    code, out, err = run_cli("layers", str(exported / "cifar_net.pt"), "--input-size", "3x32x32")
    assert code == 0, err
    assert "total parameters: 591,658" in out


def test_crafted_weights_file_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    path.write_bytes(_evil_torch_save(marker))
    code, _out, err = run_cli("layers", "mnist-cnn", "--weights", str(path))
    assert code == 2 and "weights_only=True" in " ".join(err.split())
    assert not marker.exists()


def test_crafted_exported_program_in_a_gallery_spec_runs_no_code(exported, tmp_path):
    marker = tmp_path / "marker"
    _rewrite(exported / "cifar_net.pt2", tmp_path / "crafted.pt2", _sample_inputs(marker))
    spec = tmp_path / "spec.toml"
    spec.write_text('[[models]]\nname = "crafted.pt2"\nlayers = ["conv1"]\n', encoding="utf-8")
    code, _out, err = run_cli("gallery", str(spec), "-o", str(tmp_path / "site"), "-q")
    message = " ".join(err.split())
    assert code == 2 and "models[0].name" in message and "its member 'data/sample_inputs/model.pt'" in message
    assert not marker.exists() and not (tmp_path / "site").exists()


# -- module:callable models in specs -------------------------------------------------------------

CODE_SPEC = """
[render]
steps = 2
diversity = 0

[[models]]
name = "planted:build"
input_size = "1x8x8"
views = ["connections"]
layers = ["0"]
"""


@pytest.fixture
def planted(tmp_path, monkeypatch) -> Path:
    """A module that creates a marker when imported; returns the marker's path."""
    marker = tmp_path / "imported"
    (tmp_path / "planted.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).touch()\n"
        "import torch.nn as nn\n"
        "def build():\n    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "planted", raising=False)
    yield marker
    sys.modules.pop("planted", None)


def test_a_spec_naming_code_is_refused_before_any_import(tmp_path, planted):
    spec = tmp_path / "spec.toml"
    spec.write_text(CODE_SPEC, encoding="utf-8")
    with pytest.raises(VizcnnError) as info:
        load_spec(spec)
    message = str(info.value)
    assert "models[0].name" in message and "'planted:build'" in message and "--allow-code" in message
    assert not planted.exists() and "planted" not in sys.modules
    code, _out, err = run_cli("gallery", str(spec), "-o", str(tmp_path / "site"), "-q")
    assert code == 2 and "--allow-code" in err and not planted.exists()
    assert not (tmp_path / "site").exists()


def test_a_spec_key_cannot_allow_code(tmp_path, planted):
    spec = tmp_path / "spec.toml"
    spec.write_text("allow_code = true\n" + CODE_SPEC, encoding="utf-8")
    with pytest.raises(VizcnnError, match="allow_code"):
        load_spec(spec)
    assert not planted.exists()


def test_a_report_naming_code_is_refused(tmp_path, planted):
    spec = tmp_path / "spec.toml"
    text = CODE_SPEC.replace('"planted:build"', '"mnist-cnn"').replace('input_size = "1x8x8"\n', "")
    text = text.replace('layers = ["0"]', 'layers = ["conv1"]')
    spec.write_text(text + '\n[[reports]]\nkind = "lesson"\nmodel = "planted:build"\n', encoding="utf-8")
    with pytest.raises(VizcnnError, match=r"reports\[0\]\.model: .*--allow-code"):
        load_spec(spec)
    assert not planted.exists()


def test_allow_code_builds_the_spec(tmp_path, planted):
    spec = tmp_path / "spec.toml"
    spec.write_text(CODE_SPEC, encoding="utf-8")
    code, out, err = run_cli("gallery", str(spec), "-o", str(tmp_path / "site"), "-q", "--allow-code")
    assert code == 0, err
    assert planted.exists() and out.startswith(f"{1 + 1 + 1 + 2} pages")
    report = build_gallery(spec, tmp_path / "site2", progress=False, allow_code=True)
    assert report.pages == 5


def test_the_shipped_code_spec_needs_allow_code(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(VizcnnError, match="examples.cifar_net:build' is Python code"):
        load_spec(ROOT / "galleries" / "cifar_net.toml")
    spec, models = load_spec(ROOT / "galleries" / "cifar_net.toml", allow_code=True)
    assert [len(layer.channels) for layer in spec.models[0].layers] == [8, 8]
    assert models[0].input.shape == (3, 32, 32)
