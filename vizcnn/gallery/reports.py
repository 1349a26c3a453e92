"""Report pages of a gallery: the MNIST lesson and attribution dictionaries, cached like channel results."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..cache import ResultCache, cache_key
from ..draw.html import render_template
from .spec import ReportSpec
from .units import b64, png, unb64

__all__ = ["report_page"]


def report_page(
    report: ReportSpec, models: dict[int, Any], cache: ResultCache, stem: str
) -> tuple[str, dict[str, bytes]]:
    """A report page's HTML and the images beside it (named ``{stem}-*.png``), cached by everything that determines them."""
    import hashlib

    model = models[report.model_index]
    image_id = (
        report.image
        if report.image.startswith("mnist:")
        else hashlib.sha256(Path(report.image).read_bytes()).hexdigest()
    )
    key = cache_key(
        model=model.name, weights=model.weights_hash, stem=stem,
        **{**asdict(report), "image": image_id, "model_index": 0},
    )  # fmt: skip
    raw = cache.get("gallery-report", key, ".json")
    if raw is None:
        html, images = (_lesson if report.kind == "lesson" else _dictionary)(report, model, stem)
        raw = json.dumps({"html": html, "images": {k: b64(v) for k, v in images.items()}}).encode()
        cache.put("gallery-report", key, raw, ".json")
    entry = json.loads(raw)
    return entry["html"], {k: unb64(v) for k, v in entry["images"].items()}


def _dictionary(report: ReportSpec, model, stem: str) -> tuple[str, dict[str, bytes]]:
    """The attribution dictionary's own self-contained page."""
    from .. import dictionary
    from ..data import load_image

    result = dictionary.attribution_dictionary(
        model, load_image(report.image), report.layer, report.target, vs=report.vs, method=report.method,
        top=report.top, fv_steps=report.fv_steps, source=Path(report.image).name,
    )  # fmt: skip
    return result.to_html(title=report.title), {}


def _lesson(report: ReportSpec, model, stem: str) -> tuple[str, dict[str, bytes]]:
    """Template matching vs the CNN, robustness to deformations, and the conv/pool demos, as one page."""
    from ..data import load_image, mnist, sample_index
    from ..evaluate import evaluate
    from ..lesson import TemplateClassifier, conv_demo, multichannel_demo, padding_demo, pool_demo, robustness
    from ..models.zoo import MNIST_INPUT

    test = mnist(report.data)
    train = mnist(report.train_data, "train") if report.train_data else mnist("sample")
    clf = TemplateClassifier.fit(train)
    pixels = MNIST_INPUT.to_tensor(load_image(report.image))[0]
    label = int(mnist("sample").labels[sample_index(report.image)]) if report.image.startswith("mnist:") else None
    rob = robustness(test, {model.name: model, "templates": clf})
    figures = {
        "templates": clf.explain(pixels, label),
        "robustness": rob,
        "conv": conv_demo(),
        "multichannel": multichannel_demo(),
        "padding": padding_demo(),
        "pool": pool_demo(),
    }
    images = {f"{stem}-{k}.png": png(v.to_image()) for k, v in figures.items()}
    html = render_template(
        "gallery_lesson.html", css_href="../style.css", root="../", title=report.title, model=model.name,
        stem=stem, data=test.source, n=len(test), templates_source=clf.source,
        accuracy={model.name: evaluate(model, test).accuracy, "templates": clf.accuracy(test)},
        robustness=rob.as_dict(), explain={k: v.explain() for k, v in figures.items() if hasattr(v, "explain")},
    )  # fmt: skip
    return html, images
