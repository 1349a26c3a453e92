"""Static HTML galleries: an index of models and layers, a page per layer and per channel.

    >>> report = build_gallery("galleries/mnist.toml", "site")
    >>> report.pages, report.rendered, report.reused

A build has two phases. First the expensive work (feature visualizations,
dataset scans) is cut into :class:`WorkUnit` s, one per (model, layer,
channel batch), and handed to an executor; each unit writes its results into
a :class:`~vizcnn.cache.ResultCache` keyed by (model, weights hash, layer,
channel, settings). Units whose results are cached already are not scheduled,
so an interrupted build continues where it stopped. Then the pages and images
are written, each atomically, from the cache. The site opens from ``file://``:
relative links only, no JavaScript, no network.

Work units live in :mod:`.units`, executors in :mod:`.executors`, report
pages in :mod:`.reports`; this module plans the units and writes the site.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image

from .._io import slug, write_bytes, write_text
from ..cache import ResultCache
from ..circuits import Link, conv_chain, connections
from ..draw.html import render_template
from ..errors import VizcnnError
from .executors import Executor, LocalExecutor
from .reports import report_page
from .spec import GallerySpec, LayerSpec, ModelEntry, load_spec
from .units import WorkUnit, entry_key, install_model, png, run_unit, unb64

__all__ = ["BuildReport", "build_gallery"]


@dataclass
class BuildReport:
    """What a build did: pages and images written, channel results computed now and reused from the cache.

    ``rendered`` and ``reused`` count one result per channel and view
    (feature visualization, dataset examples); ``units`` is the work units run.
    """

    out: Path
    pages: int = 0
    images: int = 0
    rendered: int = 0
    reused: int = 0
    seconds: float = 0.0
    units: int = 0
    page_paths: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.pages} pages, {self.images} images in {self.out} ({self.seconds:.1f} s; "
            f"{self.rendered} channels rendered, {self.reused} from the cache)"
        )


def _css(depth: int) -> str:
    return "../" * depth + "style.css"


class _Site:
    """Writes pages and images under ``out``, counting them."""

    def __init__(self, out: Path, report: BuildReport, tick: Callable[[], None]) -> None:
        self.out = out
        self.report = report
        self.tick = tick
        self.written: set[Path] = set()

    def page(self, rel: str, template: str, **ctx) -> None:
        depth = rel.count("/")
        html = render_template(template, css_href=_css(depth), root="../" * depth, **ctx)
        path = write_text(self.out / rel, html)
        self.report.pages += 1
        self.report.page_paths.append(path)
        self.tick()

    def image(self, rel: str, data: bytes) -> str:
        path = self.out / rel
        if not (path.is_file() and path.read_bytes() == data):
            write_bytes(path, data)
        self.report.images += 1
        self.written.add(path.resolve())
        return rel

    def prune(self) -> None:
        """Delete pages and images under ``models/`` and ``reports/`` that this build did not write.

        They are left over from an earlier version of the spec (a layer or
        channel taken out); nothing else in the output folder is touched.
        """
        keep = self.written | {p.resolve() for p in self.report.page_paths}
        for folder in ("models", "reports"):
            for path in sorted((self.out / folder).rglob("*")):
                if path.suffix in (".html", ".png") and path.is_file() and path.resolve() not in keep:
                    path.unlink()


def _settings(kind: str, entry: ModelEntry) -> dict[str, Any]:
    """The render settings a unit kind depends on (and only those, so its cache key is stable)."""
    r = entry.render
    if kind == "features":
        from ..optvis.render import ENGINE_VERSION

        return {"engine": ENGINE_VERSION, "steps": r.steps, "size": r.size, "diversity": r.diversity, "seed": r.seed}
    return {"data": r.data, "examples": r.examples}


def _cached(cache: ResultCache, kind: str, entry: ModelEntry, model, layer: str, channel: int) -> bytes | None:
    key = entry_key(kind, (entry.name, model.weights_hash), layer, channel, _settings(kind, entry))
    return cache.get(f"gallery-{kind}", key, ".json")


def _plan(kind: str, entry: ModelEntry, model, layer: LayerSpec, cache: ResultCache) -> tuple[list[WorkUnit], int]:
    """Units for the channels not yet cached, batched by ``render.batch``; and the count of cached ones."""
    missing = [c for c in layer.channels if _cached(cache, kind, entry, model, layer.name, c) is None]
    settings = tuple(sorted(_settings(kind, entry).items()))
    step = entry.render.batch
    units = [
        WorkUnit(kind, entry.name, entry.weights, model.weights_hash, layer.name, tuple(missing[i : i + step]),
                 settings, str(cache.root), entry.load_options)
        for i in range(0, len(missing), step)
    ]  # fmt: skip
    return units, len(layer.channels) - len(missing)


def build_gallery(
    spec: str | os.PathLike | GallerySpec,
    out: str | os.PathLike,
    *,
    cache: ResultCache | str | os.PathLike | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    on_unit: Callable[[WorkUnit], None] | None = None,
    models: dict[int, Any] | None = None,
) -> BuildReport:
    """Render the site described by ``spec`` into the folder ``out``.

    Args:
        spec: a spec file (validated before anything is rendered) or a parsed
            :class:`~vizcnn.gallery.spec.GallerySpec` with its loaded ``models``.
        out: output folder; ``out/index.html`` is the start page.
        cache: result cache (default ``out/.cache``); share one between
            builds to reuse renders.
        executor: runs the work units (default: in-process).
        progress: show a progress bar with an ETA on stderr.
        on_unit: called after each finished unit (progress hooks; an exception
            raised here stops the build, and the next build resumes).

    Returns:
        a :class:`BuildReport` with page and render counts.
    """
    start = time.perf_counter()
    if not isinstance(spec, GallerySpec):
        spec, models = load_spec(spec)
    if models is None:
        raise VizcnnError("build_gallery needs the loaded models with a parsed spec; pass the spec file instead.")
    out = Path(out)
    cache = cache if isinstance(cache, ResultCache) else ResultCache(cache if cache is not None else out / ".cache")
    report = BuildReport(out=out)
    own_executor = executor is None
    executor = executor or LocalExecutor(1)

    units: list[WorkUnit] = []
    for i, entry in enumerate(spec.models):
        # units run in this process (and the weights Ray ships) use the build's models, not a reload,
        # so random weights, which differ at every load, build too
        install_model(entry.name, entry.weights, models[i], entry.load_options)
        for kind in ("features", "examples"):
            if kind in entry.views:
                for layer in entry.layers:
                    todo, cached = _plan(kind, entry, models[i], layer, cache)
                    units.extend(todo)
                    report.reused += cached
    report.units = len(units)
    total_pages = (
        1 + len(spec.reports) + sum(1 + len(e.layers) + sum(len(l.channels) for l in e.layers) for e in spec.models)
    )

    from tqdm.auto import tqdm

    bar = tqdm(total=sum(len(u.channels) for u in units) + total_pages, unit="step", disable=not progress,
               desc="gallery", dynamic_ncols=True)  # fmt: skip
    try:
        for unit, n in executor.map(run_unit, units):
            report.rendered += n
            bar.update(n)
            if on_unit is not None:
                on_unit(unit)
        site = _Site(out, report, lambda: bar.update(1))
        _write_site(site, spec, models, cache)
        site.prune()
        css = resources.files("vizcnn.draw") / "static" / "style.css"
        write_text(out / "style.css", css.read_text(encoding="utf-8"))
    finally:
        bar.close()
        if own_executor:
            executor.close()
    report.seconds = time.perf_counter() - start
    return report


def _layer_extras(site: _Site, entry: ModelEntry, model, layer: LayerSpec, ldir: str) -> tuple[str | None, dict]:
    """The layer's filter grid (conv layers, ``filters`` view) and, per channel, its own filter
    (first conv layer only, where a filter is a picture in input space) and activation maps."""
    from torch import nn

    from ..draw.figure import image_grid, overlay

    grid_href, per_channel = None, {c: {"filter": None, "maps": []} for c in layer.channels}
    resolved = model.layer(layer.name)
    if "filters" in entry.views and isinstance(resolved.module, nn.Conv2d):
        from .. import filters

        grid = filters.plot(model, layer.name)
        grid_href = Path(site.image(f"{ldir}/filters.png", png(grid.to_image()))).name
        first = conv_chain(model)[:1] == [model.alias_of(resolved.path)]
        if first and (grid.reduce == "rgb" or grid.weights.shape[1] == 1):
            tiles = grid.tiles()  # one per filter, in the layer's order
            for c in layer.channels:
                tile = image_grid([tiles[c]], [f"#{c} norm {float(grid.norms[c]):.2f}"], tile_size=120)
                per_channel[c]["filter"] = Path(site.image(f"{ldir}/img/{c}-filter.png", png(tile))).name
    if entry.images:
        from .. import activations

        for k, ref in enumerate(entry.images):
            maps = activations.activations(model, layer.name, ref, channels=list(layer.channels), classes=0)
            if maps.output.dim() != 3:
                break
            base = maps.image.convert("RGB").resize(
                (112, 112), Image.NEAREST if max(maps.image.size) <= 64 else Image.BILINEAR
            )
            for c in layer.channels:
                img = overlay(base, maps.output[c], alpha=0.5)
                rel = site.image(f"{ldir}/img/{c}-act{k}.png", png(img))
                stats = maps.output[c]
                per_channel[c]["maps"].append({"src": f"img/{Path(rel).name}", "image": ref,
                                               "mean": float(stats.mean()), "max": float(stats.max())})  # fmt: skip
    return grid_href, per_channel


def _write_site(site: _Site, spec: GallerySpec, models: dict[int, Any], cache: ResultCache) -> None:
    from ..models import layer_table

    index_models = []
    for i, entry in enumerate(spec.models):
        model = models[i]
        twice = sum(e.name == entry.name for e in spec.models) > 1
        mdir = f"models/{slug(entry.name)}" + (f"-{i + 1}" if twice else "")  # the same model with other weights
        layer_dirs = {l.name: f"{mdir}/{slug(l.name)}" for l in entry.layers}
        shown = {l.name: set(l.channels) for l in entry.layers}
        features = _load("features", entry, model, cache)
        examples = _load("examples", entry, model, cache)
        for layer in entry.layers:
            ldir = layer_dirs[layer.name]
            grid_href, extras = _layer_extras(site, entry, model, layer, ldir)
            for c in layer.channels:
                if (layer.name, c) in features:
                    site.image(f"{ldir}/img/{c}.png", unb64(features[(layer.name, c)]["main"]))
            for pos, c in enumerate(layer.channels):
                _channel_page(site, spec, entry, model, layer, c, pos, features, examples, extras[c], layer_dirs, shown)
            cards = [
                {"channel": c, "href": f"{c}.html", "img": f"img/{c}.png" if (layer.name, c) in features else None,
                 "value": features[(layer.name, c)]["value"] if (layer.name, c) in features else None,
                 "failed": features.get((layer.name, c), {}).get("failed", False)}
                for c in layer.channels
            ]  # fmt: skip
            site.page(
                f"{ldir}/index.html", "gallery_layer.html", title=f"{entry.title} · {layer.name}", site_title=spec.title,
                model=entry, layer=layer, layer_title=layer.title or layer.name, cards=cards, filters=grid_href,
                size=max(64, min(160, entry.render.size * 3)), pixelated=entry.render.size < 64,
            )  # fmt: skip
        rows = layer_table(model.net, model.input.shape, dict(model.aliases))
        table = [
            {"row": r, "href": f"{slug(r.name)}/index.html" if r.name in layer_dirs else None}
            for r in rows
        ]  # fmt: skip
        site.page(
            f"{mdir}/index.html", "gallery_model.html", title=entry.title, site_title=spec.title, model=entry,
            weights=model.weights, table=table,
            layers=[{"name": l.name, "title": l.title or l.name, "href": f"{slug(l.name)}/index.html",
                     "channels": len(l.channels),
                     "preview": [f"{slug(l.name)}/img/{c}.png" for c in l.channels[:8] if (l.name, c) in features]}
                    for l in entry.layers],
            pixelated=entry.render.size < 64,
        )  # fmt: skip
        index_models.append(
            {"entry": entry, "href": f"{mdir}/index.html", "weights": model.weights,
             "layers": [{"name": l.name, "href": f"{layer_dirs[l.name]}/index.html", "channels": len(l.channels)}
                        for l in entry.layers],
             "preview": [{"img": f"{layer_dirs[l.name]}/img/{c}.png", "href": f"{layer_dirs[l.name]}/{c}.html",
                          "label": f"{l.name} {c}"}
                         for l in entry.layers for c in l.channels[:4] if (l.name, c) in features][:12]}
        )  # fmt: skip
    reports = []
    for r, report in enumerate(spec.reports):
        rel = f"reports/{r}-{slug(report.title)}.html"
        html, images = report_page(report, models, cache)
        for name, data in images.items():
            site.image(f"reports/{name}", data)
        path = write_text(site.out / rel, html)
        site.report.pages += 1
        site.report.page_paths.append(path)
        site.tick()
        reports.append({"title": report.title, "href": rel, "kind": report.kind})
    site.page(
        "index.html",
        "gallery_index.html",
        title=spec.title,
        site_title=spec.title,
        description=spec.description,
        models=index_models,
        reports=reports,
        spec_name=Path(spec.source).name,
    )


def _load(kind: str, entry: ModelEntry, model, cache: ResultCache) -> dict[tuple[str, int], dict]:
    """Every cached ``kind`` result of the entry, by (layer, channel)."""
    if kind not in entry.views:
        return {}
    found = {}
    for layer in entry.layers:
        for c in layer.channels:
            raw = _cached(cache, kind, entry, model, layer.name, c)
            if raw is None:
                raise VizcnnError(
                    f"the {kind} of {entry.name} {layer.name} channel {c} are missing from the cache; run the build again."
                )
            found[(layer.name, c)] = json.loads(raw)
    return found


def _channel_page(
    site: _Site, spec, entry, model, layer, c, pos, features, examples, extras, layer_dirs, shown
) -> None:
    ldir = layer_dirs[layer.name]
    ctx: dict[str, Any] = {"features": None, "examples": None, "incoming": [], "outgoing": [],
                           "filter": f"img/{extras['filter']}" if extras["filter"] else None, "maps": extras["maps"]}  # fmt: skip
    feat = features.get((layer.name, c))
    if feat:
        diverse = [site.image(f"{ldir}/img/{c}-d{j}.png", unb64(h)) for j, h in enumerate(feat.get("diverse", []))]
        ctx["features"] = {
            "main": f"img/{c}.png",
            "value": feat["value"],
            "objective": feat.get("objective"), "plain_value": feat.get("plain_value"), "failed": feat.get("failed", False),
            "diverse_failed": feat.get("diverse_failed", 0),
            "diverse": [f"img/{Path(d).name}" for d in diverse],
        }
    ex = examples.get((layer.name, c))
    if ex:
        site.image(f"{ldir}/img/{c}-examples.png", unb64(ex["grid"]))
        ctx["examples"] = {"src": f"img/{c}-examples.png", **ex["summary"]}
    if "connections" in entry.views:
        incoming, outgoing = connections(model, layer.name, c)

        def link(lk: Link) -> dict:
            href = img = None
            if lk.layer in layer_dirs and lk.channel in shown[lk.layer]:
                href = f"../{slug(lk.layer)}/{lk.channel}.html"
                if (lk.layer, lk.channel) in features:
                    img = f"../{slug(lk.layer)}/img/{lk.channel}.png"
            return {
                "layer": lk.layer,
                "channel": lk.channel,
                "strength": lk.strength,
                "sign": lk.sign,
                "href": href,
                "img": img,
            }

        ctx["incoming"] = [link(lk) for lk in incoming]
        ctx["outgoing"] = [link(lk) for lk in outgoing]
    chans = layer.channels
    prev_c = chans[pos - 1] if pos > 0 else None
    next_c = chans[pos + 1] if pos + 1 < len(chans) else None
    site.page(
        f"{ldir}/{c}.html", "gallery_channel.html", title=f"{entry.title} · {layer.name} · channel {c}",
        site_title=spec.title, model=entry, layer=layer, channel=c, prev_channel=prev_c, next_channel=next_c,
        pixelated=entry.render.size < 64, **ctx,
    )  # fmt: skip
