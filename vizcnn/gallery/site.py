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

A build never deletes a file it did not write: ``DIR/.vizcnn-manifest.json``
lists what the last build wrote, and a rebuild deletes only files of that list
that it no longer writes (a layer or channel taken out of the spec). A folder
that is not empty and has no manifest is not a vizcnn site, and a build there
is refused unless ``force``. Every page and image has its own name: layers or
models whose names reduce to the same file name get a ``-N`` suffix, and
report images carry their report's number.

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

from .. import __version__
from .._io import slug, write_bytes, write_text
from ..cache import ResultCache
from ..circuits import Link, connections, conv_chain
from ..draw.html import render_template, with_crumbs
from ..errors import VizcnnError
from ..optvis.param import PLAIN_IMAGE
from ..progress import progress_bar
from .executors import Executor, LocalExecutor
from .reports import report_page
from .spec import GallerySpec, LayerSpec, ModelEntry, load_spec
from .units import WorkUnit, entry_key, install_model, png, run_unit, unb64

__all__ = ["MANIFEST", "BuildReport", "build_gallery"]

#: The file in an output folder listing what vizcnn wrote there (relative paths); it marks the folder as a site.
MANIFEST = ".vizcnn-manifest.json"


@dataclass
class BuildReport:
    """What a build did: pages and images written, channel results computed now and reused from the cache.

    ``rendered`` and ``reused`` count one result per channel and view
    (feature visualization, dataset examples); ``units`` is the work units run;
    ``retries`` the units run again because their worker or node was lost.
    """

    out: Path
    pages: int = 0
    images: int = 0
    rendered: int = 0
    reused: int = 0
    seconds: float = 0.0
    units: int = 0
    retries: int = 0
    page_paths: list[Path] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        retried = (
            f"; {self.retries} unit{'s' if self.retries != 1 else ''} run again (a worker or node lost, or a transient error)"
            if self.retries
            else ""
        )
        return (
            f"{self.pages} pages, {self.images} images in {self.out} ({self.seconds:.1f} s; "
            f"{self.rendered} channels rendered, {self.reused} from the cache{retried})"
        )


def _css(depth: int) -> str:
    return "../" * depth + "style.css"


class _Site:
    """Writes pages and images under ``out``, counting them."""

    def __init__(self, out: Path, report: BuildReport, tick: Callable[[], None]) -> None:
        self.out = out
        self.report = report
        self.tick = tick
        self.written: set[str] = set()

    def html(self, rel: str, html: str) -> None:
        """Write a page (counted, with a tick of the progress bar)."""
        path = write_text(self.out / rel, html)
        self.written.add(rel)
        self.report.pages += 1
        self.report.page_paths.append(path)
        self.tick()

    def page(self, rel: str, template: str, **ctx) -> None:
        depth = rel.count("/")
        self.html(rel, render_template(template, css_href=_css(depth), root="../" * depth, **ctx))

    def image(self, rel: str, data: bytes) -> str:
        path = self.out / rel
        if not (path.is_file() and path.read_bytes() == data):
            write_bytes(path, data)
        self.report.images += 1
        self.written.add(rel)
        return rel

    def text(self, rel: str, text: str) -> None:
        write_text(self.out / rel, text)
        self.written.add(rel)

    def finish(self, previous: set[str]) -> None:
        """Record what this build wrote, then delete what only the previous build wrote.

        Those files are left over from an earlier version of the spec (a layer
        or channel taken out). The manifest lists both sets until the old files
        are gone, so a build killed in between deletes them next time.
        """
        stale = previous - self.written
        if stale:
            _write_manifest(self.out, self.written | stale)
        root = self.out.resolve()
        for rel in sorted(stale):
            path = self.out / rel
            if path.is_file() and not path.is_symlink() and path.resolve().is_relative_to(root):
                path.unlink()
                for parent in path.parents:  # the folders of a layer taken out of the spec
                    if parent == self.out or any(parent.iterdir()):
                        break
                    parent.rmdir()
        _write_manifest(self.out, self.written)


def _write_manifest(out: Path, files: set[str]) -> None:
    write_text(out / MANIFEST, json.dumps({"vizcnn": __version__, "files": sorted(files)}, indent=0) + "\n")


def _read_manifest(out: Path) -> set[str] | None:
    """The files the last build wrote into ``out`` (safe relative paths only); ``None`` if it is no site.

    A damaged manifest still marks a site, but lists nothing, so nothing is deleted.
    """
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        return set()
    return {
        f for f in files
        if isinstance(f, str) and f and not Path(f).is_absolute() and ".." not in Path(f).parts and f != MANIFEST
    }  # fmt: skip


def _check_output(out: Path, force: bool) -> set[str]:
    """Refuse an output path that is a file, or a folder of other files; return the previous build's files."""
    for place in (out, *out.parents):
        if place.exists():
            if not place.is_dir():
                raise VizcnnError(
                    f"the output folder {str(out)!r} cannot be made: {str(place)!r} is a file. "
                    "Give a folder with -o (a new one, or one vizcnn built before)."
                )
            break
    previous = _read_manifest(out)
    if previous is None and out.is_dir() and any(out.iterdir()) and not force:
        raise VizcnnError(
            f"the output folder {str(out)!r} is not empty and is not a vizcnn site (it has no {MANIFEST}). "
            "A build writes index.html, style.css, models/ and reports/ there. Give a new or empty folder with -o, "
            "or add --force (force=True) to build there anyway: files vizcnn did not write are never deleted, "
            "but files with the names it writes are replaced. A site built by an older vizcnn needs --force once."
        )
    return previous or set()


def _folders(names: list[str]) -> list[str]:
    """A distinct file name per position: the name's slug, with ``-N`` (its position) where slugs collide."""
    slugs = [slug(n) for n in names]
    taken: set[str] = set()
    out = []
    for i, s in enumerate(slugs):
        name = s
        if slugs.count(s) > 1:
            name = f"{s}-{i + 1}"
        while name in taken or (name != s and name in slugs):
            name = f"{name}-{i + 1}"
        taken.add(name)
        out.append(name)
    return out


def _settings(kind: str, entry: ModelEntry, model, layer: str) -> dict[str, Any]:
    """The render settings a unit kind depends on (and only those, so its cache key is stable)."""
    r = entry.render
    if kind == "features":
        from ..optvis.param import fingerprint
        from ..optvis.render import ENGINE_VERSION

        return {"engine": ENGINE_VERSION, "steps": r.steps, "size": r.size, "diversity": r.diversity, "seed": r.seed,
                "param": fingerprint(model.default_param([layer]))}  # fmt: skip
    settings: dict[str, Any] = {"data": r.data, "examples": r.examples}
    if "projections" in entry.views:
        settings["projection"] = "deconvnet"
    return settings


def _cached(cache: ResultCache, kind: str, entry: ModelEntry, model, layer: str, channel: int) -> bytes | None:
    key = entry_key(kind, (entry.name, model.weights_hash), layer, channel, _settings(kind, entry, model, layer))
    return cache.get(f"gallery-{kind}", key, ".json")


def _plan(kind: str, entry: ModelEntry, model, layer: LayerSpec, cache: ResultCache) -> tuple[list[WorkUnit], int]:
    """Units for the channels not yet cached, batched by ``render.batch``; and the count of cached ones."""
    missing = [c for c in layer.channels if _cached(cache, kind, entry, model, layer.name, c) is None]
    settings = tuple(sorted(_settings(kind, entry, model, layer.name).items()))
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
    allow_code: bool = False,
    force: bool = False,
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
        allow_code: let the spec name ``module.path:callable`` models, which
            are imported and run (refused otherwise; see :func:`load_spec`).
        force: build into a folder that is not empty and not a vizcnn site.

    Returns:
        a :class:`BuildReport` with page and render counts.
    """
    start = time.perf_counter()
    out = Path(out)
    previous = _check_output(out, force)
    if not isinstance(spec, GallerySpec):
        spec, models = load_spec(spec, allow_code=allow_code)
    if models is None:
        raise VizcnnError("build_gallery needs the loaded models with a parsed spec; pass the spec file instead.")
    if not (out / MANIFEST).exists():
        _write_manifest(out, set())  # the folder is a site from now on, so an interrupted build resumes
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

    bar = progress_bar(total=sum(len(u.channels) for u in units) + total_pages, unit="step", disable=not progress,
               desc="gallery", dynamic_ncols=True)  # fmt: skip
    retried = getattr(executor, "retries", 0)
    try:
        for unit, n in executor.map(run_unit, units):
            report.rendered += n
            bar.update(n)
            if on_unit is not None:
                on_unit(unit)
        report.retries = getattr(executor, "retries", 0) - retried
        site = _Site(out, report, lambda: bar.update(1))
        _write_site(site, spec, models, cache)
        css = resources.files("vizcnn.draw") / "static" / "style.css"
        site.text("style.css", css.read_text(encoding="utf-8"))
        site.finish(previous)
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
    model_folders = _folders([e.name for e in spec.models])  # the same model twice: other weights
    channel_pages: dict[tuple[int, str], dict[int, str]] = {}  # (entry, layer path) -> channel -> page, from reports/
    for i, entry in enumerate(spec.models):
        model = models[i]
        mdir = f"models/{model_folders[i]}"
        folder = dict(zip([l.name for l in entry.layers], _folders([l.name for l in entry.layers])))
        layer_dirs = {name: f"{mdir}/{f}" for name, f in folder.items()}
        shown = {l.name: set(l.channels) for l in entry.layers}
        features = _load("features", entry, model, cache)
        examples = _load("examples", entry, model, cache)
        for layer in entry.layers:
            ldir = layer_dirs[layer.name]
            channel_pages[(i, model.layer(layer.name).path)] = {c: f"../{ldir}/{c}.html" for c in layer.channels}
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
                size=max(128, min(192, entry.render.size * 4)), pixelated=entry.render.size < 64,
            )  # fmt: skip
        rows = layer_table(model.net, model.input.shape, dict(model.aliases))
        table = [
            {"row": r, "href": f"{folder[r.name]}/index.html" if r.name in folder else None}
            for r in rows
        ]  # fmt: skip
        site.page(
            f"{mdir}/index.html", "gallery_model.html", title=entry.title, site_title=spec.title, model=entry,
            weights=model.weights, table=table,
            layers=[{"name": l.name, "title": l.title or l.name, "href": f"{folder[l.name]}/index.html",
                     "channels": len(l.channels),
                     "preview": [{"img": f"{folder[l.name]}/img/{c}.png", "href": f"{folder[l.name]}/{c}.html", "channel": c}
                                 for c in l.channels[:10] if (l.name, c) in features]}
                    for l in entry.layers],
            pixelated=entry.render.size < 64,
        )  # fmt: skip
        index_models.append(
            {"entry": entry, "href": f"{mdir}/index.html", "weights": model.weights,
             "layers": [{"name": l.name, "href": f"{layer_dirs[l.name]}/index.html", "channels": len(l.channels),
                         "preview": [{"img": f"{layer_dirs[l.name]}/img/{c}.png", "href": f"{layer_dirs[l.name]}/{c}.html",
                                      "channel": c} for c in l.channels[:10] if (l.name, c) in features]}
                        for l in entry.layers]}
        )  # fmt: skip
    reports = []
    for r, report in enumerate(spec.reports):
        stem = f"{r}-{slug(report.title)}"  # the number keeps reports with the same title apart
        rel = f"reports/{stem}.html"
        model = models[report.model_index]
        hrefs = channel_pages.get((report.model_index, model.layer(report.layer).path), {}) if report.layer else {}
        html, images = report_page(report, models, cache, stem, hrefs)
        for name, data in images.items():
            site.image(f"reports/{name}", data)
        site.html(rel, with_crumbs(html, spec.title, "../index.html", report.title))
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
    folder = {name: d.rsplit("/", 1)[1] for name, d in layer_dirs.items()}
    ctx: dict[str, Any] = {"features": None, "examples": None, "incoming": [], "outgoing": [],
                           "filter": f"img/{extras['filter']}" if extras["filter"] else None, "maps": extras["maps"]}  # fmt: skip
    feat = features.get((layer.name, c))
    if feat:
        diverse = [site.image(f"{ldir}/img/{c}-d{j}.png", unb64(h)) for j, h in enumerate(feat.get("diverse", []))]
        ctx["features"] = {
            "main": f"img/{c}.png",
            "value": feat["value"],
            "objective": feat.get("objective"), "plain_value": feat.get("plain_value"),
            "baseline": feat.get("baseline", PLAIN_IMAGE), "failed": feat.get("failed", False),
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
                href = f"../{folder[lk.layer]}/{lk.channel}.html"
                if (lk.layer, lk.channel) in features:
                    img = f"../{folder[lk.layer]}/img/{lk.channel}.png"
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
