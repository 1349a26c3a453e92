"""Evaluation of the shipped MNIST models: accuracy on the official test set, the JSON and the pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import vizcnn
from vizcnn.data import mnist
from vizcnn.evaluate import Evaluation, evaluate

from .conftest import run_cli


@pytest.fixture(scope="session")
def official_test_set(shared_mnist):
    digits = mnist(shared_mnist, "test")
    assert len(digits) == 10000
    return digits


@pytest.mark.parametrize("name, floor", [("mnist-cnn", 0.985), ("lenet", 0.98)])
def test_shipped_model_accuracy_on_official_test_set(official_test_set, name, floor):
    result = evaluate(vizcnn.load_model(name), official_test_set)
    assert result.n == 10000
    assert result.accuracy >= floor, f"{name}: {result.accuracy:.4f} on the official test set"
    assert result.confusion.sum() == 10000
    assert np.trace(result.confusion) == round(result.accuracy * 10000)
    assert np.bincount(official_test_set.labels, minlength=10).tolist() == result.confusion.sum(1).tolist()


def test_evaluate_json_on_bundled_sample(tmp_path):
    out = tmp_path / "confusion.png"
    code, stdout, stderr = run_cli("evaluate", "mnist-cnn", "--json", "-o", str(out))
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["n"] == 500 and data["data"] == "bundled sample"
    confusion = np.array(data["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 500
    assert confusion.sum(1).tolist() == [50] * 10  # the sample holds 50 digits of each class
    assert data["accuracy"] == pytest.approx(np.trace(confusion) / 500)
    assert data["accuracy"] >= 0.97
    assert data["per_class"]["3"] == pytest.approx(confusion[3, 3] / 50)
    assert "%|" not in stderr  # no progress bar with --json
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 300


def test_evaluate_text_and_progress_bar(tmp_path):
    code, stdout, stderr = run_cli("evaluate", "mnist-cnn", "--batch-size", "100", "-o", str(tmp_path / "c.png"))
    assert code == 0, stderr
    assert "mnist-cnn on 500 digits (bundled sample): accuracy" in stdout
    assert "mnist-cnn:" in stderr and "0/5 [" in stderr  # tqdm bar over five batches of 100 (the last refresh is timing-dependent)
    code, _, stderr = run_cli("evaluate", "mnist-cnn", "--quiet", "-o", str(tmp_path / "c.png"))
    assert code == 0 and "batch" not in stderr


def test_evaluate_refuses_a_non_mnist_model(alexnet):
    with pytest.raises(vizcnn.VizcnnError, match="MNIST has 10"):
        evaluate(alexnet, mnist("sample"))


def test_evaluate_missing_data_folder(tmp_path):
    code, _, stderr = run_cli("evaluate", "mnist-cnn", "--data", str(tmp_path))
    assert code == 2 and "no MNIST test files" in stderr and "Traceback" not in stderr


def test_confusion_counts_and_html_escapes_names():
    labels = np.array([0, 0, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 0])
    result = Evaluation("<b>net</b>", "my <data>", ["0", "1", "2"], labels, preds)
    assert result.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert result.accuracy == pytest.approx(3 / 5)
    assert result.per_class == {"0": 0.5, "1": 1.0, "2": 0.0}
    html = result._repr_html_()
    assert "&lt;b&gt;net&lt;/b&gt;" in html and "<b>net</b>" not in html
    assert result._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
