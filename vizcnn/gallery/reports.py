"""Report pages of a gallery (lesson, attribution and interactive dictionaries, flows, atlases), cached like channel results."""

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


def _image_id(ref: str) -> str:
    import hashlib

    return ref if ref.startswith("mnist:") else hashlib.sha256(Path(ref).read_bytes()).hexdigest()


def report_page(
    report: ReportSpec, models: dict[int, Any], cache: ResultCache, stem: str, hrefs: dict[int, str] | None = None
) -> tuple[str, dict[str, bytes]]:
    """A report page's HTML and the images beside it (named ``{stem}-*.png``), cached by everything that determines them.

    ``hrefs`` (channel -> link to its gallery page) lets a dictionary link its channels.
    """
    model = models[report.model_index]
    hrefs = dict(hrefs or {})
    ids = {"image": _image_id(report.image), "images": [_image_id(i) for i in report.images]}
    key = cache_key(
        model=model.name, weights=model.weights_hash, stem=stem, hrefs=sorted(hrefs.items()),
        **{**asdict(report), **ids, "model_index": 0},
    )  # fmt: skip
    raw = cache.get("gallery-report", key, ".json")
    if raw is None:
        html, images = _PAGES[report.kind](report, model, stem, hrefs)
        raw = json.dumps({"html": html, "images": {k: b64(v) for k, v in images.items()}}).encode()
        cache.put("gallery-report", key, raw, ".json")
    entry = json.loads(raw)
    return entry["html"], {k: unb64(v) for k, v in entry["images"].items()}


def _dictionary(report: ReportSpec, model, _stem: str, _hrefs) -> tuple[str, dict[str, bytes]]:
    """The attribution dictionary's own self-contained page."""
    from .. import dictionary
    from ..data import load_image

    result = dictionary.attribution_dictionary(
        model, load_image(report.image), report.layer, report.target, vs=report.vs, method=report.method,
        top=report.top, fv_steps=report.fv_steps, source=Path(report.image).name,
    )  # fmt: skip
    return result.to_html(title=report.title), {}


def _lesson(report: ReportSpec, model, stem: str, _hrefs) -> tuple[str, dict[str, bytes]]:
    """Template matching vs the CNN, robustness to deformations, and the conv/pool demos, as one page."""
    from ..data import load_image, mnist, sample_index
    from ..evaluate import evaluate
    from ..lesson import (
        TemplateClassifier,
        conv_demo,
        multichannel_demo,
        padding_demo,
        pool_demo,
        robustness,
    )
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
        "gallery_lesson.html", css_href="../style.css", title=report.title, model=model.name,
        stem=stem, data=test.source, n=len(test), templates_source=clf.source,
        accuracy={model.name: evaluate(model, test).accuracy, "templates": clf.accuracy(test)},
        robustness=rob.as_dict(), explain={k: v.explain() for k, v in figures.items() if hasattr(v, "explain")},
    )  # fmt: skip
    return html, images


def _interactive(report: ReportSpec, model, _stem: str, hrefs: dict[int, str]) -> tuple[str, dict[str, bytes]]:
    """The interactive dictionary of the report's images, its channels linked to their gallery pages."""
    from ..cache import ResultCache
    from ..data import load_image
    from ..dictionary import interactive_dictionary

    targets = None if report.target is None else [report.target] + ([report.vs] if report.vs is not None else [])
    result = interactive_dictionary(
        model, [(Path(ref).name if not ref.startswith("mnist:") else ref, load_image(ref)) for ref in report.images],
        report.layer, top=report.top, groups=report.groups, targets=targets, method=report.method,
        fv_steps=report.fv_steps, cache=ResultCache() if report.fv_steps else None, hrefs=hrefs,
    )  # fmt: skip
    return result.to_html(title=report.title), {}


def _flow(report: ReportSpec, model, _stem: str, _hrefs) -> tuple[str, dict[str, bytes]]:
    """Attribution flowing from ``layer`` to ``to_layer`` and on to the classes, for the report's image."""
    from ..data import load_image
    from ..flow import layer_flow, render_features

    flow = layer_flow(model, load_image(report.image), report.layer, report.to_layer, report.target, vs=report.vs,
                      mode=report.nodes, top=report.top, groups=report.groups, n_steps=report.n_steps)  # fmt: skip
    render_features(flow, model, steps=report.fv_steps)
    return flow.to_html(title=report.title), {}


def _atlas(report: ReportSpec, model, stem: str, _hrefs) -> tuple[str, dict[str, bytes]]:
    """The activation atlas page and its PNG beside it."""
    from ..atlas import activation_atlas

    atlas = activation_atlas(
        model, report.layer, report.data, method=report.embedding, grid=report.grid, min_count=report.min_count,
        max_points=report.max_points, per_image=report.per_image, fv_steps=report.fv_steps, progress=False,
    )  # fmt: skip
    return atlas.to_html(title=report.title), {f"{stem}-atlas.png": png(atlas.to_image())}


#: Report kind -> ``page(report, model, stem, hrefs) -> (html, images)``.
_PAGES = {
    "lesson": _lesson, "attribution-dictionary": _dictionary, "dictionary": _interactive, "flow": _flow, "atlas": _atlas,
}  # fmt: skip
