"""A newcomer's first hour: digits by class, fast typo answers, outputs in vizcnn-out/, short reprs, same flags."""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vizcnn.data import load_image, sample_index
from vizcnn.data.mnist import SAMPLE_DIR
from vizcnn.errors import VizcnnError

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _sample_labels() -> np.ndarray:
    """The bundled sample's labels read straight from the IDX file (8-byte header, then one byte per label)."""
    return np.frombuffer(gzip.decompress((SAMPLE_DIR / "sample-labels-idx1-ubyte.gz").read_bytes())[8:], np.uint8)


def test_a_digit_by_class():
    labels = _sample_labels()
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        assert sample_index(f"mnist:label={digit}") == where[0]
        assert sample_index(f"mnist:label={digit}#3") == where[3]
    assert sample_index("mnist:7") == 7 and labels[7] != 7  # by position: the sample is shuffled
    seven = np.asarray(load_image("mnist:label=7"))
    assert seven.shape == (28, 28) and np.array_equal(seven, np.asarray(load_image(f"mnist:{np.flatnonzero(labels == 7)[0]}")))
    for bad, words in [("mnist:label=7#50", "50 digits of class 7"), ("mnist:label=11", "classes are 0 to 9"),
                       ("mnist:seven", "mnist:label=D"), ("mnist:500", "mnist:0 to mnist:499")]:  # fmt: skip
        with pytest.raises(VizcnnError, match=words):
            sample_index(bad)
    code, _, err = run_cli("activations", "mnist-cnn", "conv1", "--image", "mnist:label=7#99")
    assert code == 2 and "mnist:label=7#0 to #49" in err


def test_every_report_image_is_read_as_its_target_class():
    import tomllib

    import vizcnn

    spec = tomllib.loads((ROOT / "galleries" / "mnist.toml").read_text(encoding="utf-8"))
    models = {}
    checked = 0
    for report in spec["reports"]:
        model = models.setdefault(report["model"], vizcnn.load_model(report["model"], device="cpu"))
        refs = report.get("images", [report["image"]] if "image" in report else [])
        for k, ref in enumerate(refs):  # a dictionary's several images: the first is of the target class
            with torch.no_grad():
                predicted = int(model.net(model.preprocess(load_image(ref))).argmax())
            label = int(_sample_labels()[sample_index(ref)])
            assert predicted == label, report["title"]
            if "target" in report and k == 0:
                assert predicted == model.class_index(report["target"]), report["title"]
                checked += 1
        if "target" in report and "Why" in report["title"]:
            assert f"a {report['target']} " in report["title"]  # "Why this digit is a 7 and not a 1"
    assert checked >= 3  # the attribution dictionary, the interactive dictionary and the flow
    for entry in spec["models"]:  # the digits whose maps each channel page shows: asked for by class
        assert all(ref.startswith("mnist:label=") for ref in entry.get("images", []))


def _seconds(*argv: str) -> float:
    """The fastest of three runs of ``python argv`` in a fresh process."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def test_a_model_name_typo_is_answered_before_torch_is_imported():
    probe = (
        "import sys; from vizcnn.cli import main; code = main(['filters', 'mnsit-cnn', 'conv1']); "
        "print(code, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True)  # fmt: skip
    assert out.stdout.split() == ["2", "False"] and "Did you mean: 'mnist-cnn'" in out.stderr
    typo = _seconds("-m", "vizcnn", "filters", "mnsit-cnn", "conv1")
    torch_import = _seconds("-c", "import torch")
    assert typo < 0.5 * torch_import, (typo, torch_import)


def test_the_torch_free_names_are_the_zoo():
    from vizcnn.catalog import ZOO_NAMES

    probe = "from vizcnn.models import list_models; print(' '.join(list_models()))"  # a fresh process: no test's models
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.stdout.split() == sorted(ZOO_NAMES)


def test_missing_files_are_named_before_torch_is_imported(tmp_path):
    for argv, words in [
        (["filters", "mnist-cnn", "conv1", "--weights", str(tmp_path / "nope.pth")], "--weights"),
        (["activations", "mnist-cnn", "conv1", "--image", str(tmp_path / "nope.png")], "--image"),
        (["layers", str(tmp_path / "net.pt2")], "model file"),
        (["gallery", str(tmp_path / "nope.toml")], "SPEC"),
    ]:
        code, _, err = run_cli(*argv)
        assert code == 2 and words in err and "does not exist" in err, (argv, err)


def test_demo_and_render_outputs_go_to_vizcnn_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["demo", "conv", "--gif", "--frames"], ["demo", "padding"], ["demo", "pool", "-q"],
                 ["render", "mnist-cnn", "fc2:3", "--steps", "2", "-q"]):  # fmt: skip
        code, _, err = run_cli(*argv)
        assert code == 0, (argv, err)
    assert [p.name for p in tmp_path.iterdir()] == ["vizcnn-out"]  # nothing else in the current folder
    out = tmp_path / "vizcnn-out"
    assert {"demo-conv.png", "demo-conv.gif", "demo-padding.png", "demo-pool.png"} <= {p.name for p in out.iterdir()}
    assert len(list((out / "demo-conv-frames").glob("frame-*.png"))) == 10  # 9 window positions + the result
    assert Image.open(out / "demo-conv.gif").n_frames == 10


def _results(mnist_cnn) -> dict:
    from vizcnn import (
        activations,
        attribution,
        dictionary,
        evaluate,
        examples,
        filters,
        lesson,
        optvis,
    )
    from vizcnn.data import mnist

    digit = load_image("mnist:label=4")
    digits = mnist("sample")
    few = type(digits)(digits.images[:20], digits.labels[:20], "first 20")
    templates = lesson.TemplateClassifier.fit(digits)
    return {
        "FilterGrid": filters.plot(mnist_cnn, "conv2"),
        "ActivationMaps": activations.activations(mnist_cnn, "conv2", digit),
        "DatasetExamples": examples.top_examples(mnist_cnn, "conv2", 3, "sample", k=4, progress=False),
        "RenderResult": optvis.render_channels(mnist_cnn, "conv2", [1, 2], steps=2, progress=False),
        "Attribution": attribution.ChannelAttribution(mnist_cnn, "conv2").attribute(digit, "4", vs="9"),
        "RandomizationCheck": attribution.randomization_check(mnist_cnn, digit, "conv2", "4"),
        "SemanticDictionary": dictionary.semantic_dictionary(mnist_cnn, digit, "relu2"),
        "AttributionDictionary": dictionary.attribution_dictionary(mnist_cnn, digit, "relu3", "4", vs="9"),
        "NeuronGroups": dictionary.neuron_groups(mnist_cnn, digit, "relu2", 3),
        "Evaluation": evaluate.evaluate(mnist_cnn, digits),
        "Robustness": lesson.robustness(few, {"mnist-cnn": mnist_cnn}, ["rotation"]),
        "TemplateClassifier": templates,
        "TemplateScores": templates.explain(torch.from_numpy(digits.images[0]).float() / 255, int(digits.labels[0])),
        "ConvDemo": lesson.conv_demo(),
        "PoolDemo": lesson.pool_demo(),
        "PaddingDemo": lesson.padding_demo(),
        "Digits": digits,
    }


def test_every_result_prints_in_a_few_lines(mnist_cnn):
    results = _results(mnist_cnn)
    for name, result in results.items():
        text = repr(result)
        assert text.startswith(name) and len(text) < 700, (name, len(text), text[:300])
    assert "tensor[32, 28, 28]" in repr(results["Attribution"]) and "top=[(" in repr(results["Attribution"])
    assert "layer='relu2'" in repr(results["SemanticDictionary"]) and "image_top=[(" in repr(results["SemanticDictionary"])
    assert "shape=(32, 16, 3, 3)" in repr(results["FilterGrid"])
    assert "images=tensor[2, 1, 28, 28]" in repr(results["RenderResult"])
    assert "500 images of 28x28" in repr(results["Digits"])


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every leaf command's parser (``demo conv`` and the other demos are leaves of ``demo``)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_subcommands(sub, f"{prefix}{name} "))
    return found or {prefix.strip(): parser}


def test_every_command_takes_the_same_flags():
    from vizcnn.cli import COMMANDS, build_parser

    commands = _subcommands(build_parser())
    assert {name.split()[0] for name in commands} == set(COMMANDS)
    for name, parser in commands.items():
        flags = {s for a in parser._actions for s in a.option_strings}
        assert {"-q", "--quiet", "-o", "--output", "--json"} <= flags, (name, sorted(flags))


def test_quiet_silences_progress_and_text_commands_write_to_o(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("examples", "mnist-cnn", "conv2:3", "--top", "2", "-q")
    assert code == 0 and err == "" and "top 2 of 500 images" in out  # no progress bar, the result still printed
    code, out, _ = run_cli("layers", "lenet", "-o", "layers.txt")
    assert code == 0 and out == "wrote layers.txt\n"
    table = (tmp_path / "layers.txt").read_text()
    assert "conv1" in table and "total parameters: 61,706" in table  # LeNet-5: 156 + 2416 + 48120 + 10164 + 850
    code, out, _ = run_cli("models", "--json", "-o", "models.json")
    assert code == 0 and [m["name"] for m in json.loads((tmp_path / "models.json").read_text())] == ["alexnet", "lenet", "mnist-cnn"]


def test_progress_bars_are_plain_text_outside_jupyter():
    from tqdm.std import tqdm

    from vizcnn.progress import in_notebook, progress_bar

    assert not in_notebook()
    bar = progress_bar(range(3), disable=True)
    assert type(bar) is tqdm and list(bar) == [0, 1, 2]
