"""The tour notebook runs headless from top to bottom, and every result object shows itself in Jupyter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .conftest import require

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tour.ipynb"


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> str:
    """A kernelspec for this interpreter (the venv's), found through $JUPYTER_PATH."""
    for module in ("ipykernel", "nbclient", "nbformat"):
        require(module, "the notebook test needs the test extra (pip install 'vizcnn[test]')")
    spec = tmp_path / "kernels" / "vizcnn-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "vizcnn test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return "vizcnn-test"


def test_tour_notebook_runs_without_errors(kernel):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    # nothing red: no warning (TqdmWarning: IProgress not found) and no progress text on stderr
    assert [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"] == []
    shown = [o for o in outputs if o.output_type == "execute_result"]
    pictures = [o for o in shown if "image/png" in o.data or "text/html" in o.data]
    # every cell that ends in a result object displayed it as a picture or a page: the ten after `model`
    # (demo, pool_demo, padding_demo, explain, robustness, plot, activations, top_examples, render_channels,
    # attribution_dictionary); `model` itself shows as text
    assert len(shown) == 11 and len(pictures) == 10, [sorted(o.data) for o in shown]
    assert any(
        "templates" in o.get("text", "") and "CNN" in o.get("text", "") for o in outputs if o.output_type == "stream"
    )


def test_progress_bars_in_jupyter_are_widgets_without_a_warning(kernel):
    import nbformat
    from nbclient import NotebookClient

    pytest.importorskip("ipywidgets")
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "from vizcnn.progress import progress_bar\n"
        "bar = progress_bar(range(3), desc='x')\n"
        "print(type(bar).__module__, list(bar))"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = nb.cells[0].outputs
    printed = [o.text for o in outputs if o.output_type == "stream" and o.name == "stdout"]
    assert printed == ["tqdm.notebook [0, 1, 2]\n"]
    assert not [o for o in outputs if o.output_type in ("error",) or getattr(o, "name", "") == "stderr"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # the widget


def test_every_result_class_displays_in_jupyter():
    from vizcnn import activations, attribution, dictionary, evaluate, examples, filters, lesson, optvis

    classes = [
        filters.FilterGrid, activations.ActivationMaps, examples.DatasetExamples, optvis.RenderResult,
        attribution.Attribution, attribution.RandomizationCheck, dictionary.SemanticDictionary,
        dictionary.AttributionDictionary, dictionary.NeuronGroups, evaluate.Evaluation, lesson.Robustness,
        lesson.TemplateClassifier, lesson.TemplateScores, lesson.ConvDemo, lesson.PoolDemo, lesson.PaddingDemo,
    ]  # fmt: skip
    missing = [c.__name__ for c in classes if not (hasattr(c, "_repr_png_") or hasattr(c, "_repr_html_"))]
    assert missing == []


def test_result_objects_display_what_they_hold():
    """Call the Jupyter hooks: a PNG that decodes to the object's own picture, HTML that is a page."""
    import io

    from PIL import Image

    import vizcnn
    from vizcnn.data import load_image
    from vizcnn.dictionary import semantic_dictionary
    from vizcnn.lesson import conv_demo

    model = vizcnn.load_model("mnist-cnn", device="cpu")
    for result in (vizcnn.filters.plot(model, "conv1"), vizcnn.activations.activations(model, "conv2", "mnist:7"), conv_demo()):
        png = result._repr_png_()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(png)) as shown:
            assert shown.tobytes() == result.to_image().convert(shown.mode).tobytes()
    html = semantic_dictionary(model, load_image("mnist:7"), "relu2", top=3)._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "&lt;img" in html and "relu2" in html  # a whole page, escaped into srcdoc
