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

Executors are looked up by name in :data:`EXECUTORS`; a new one (e.g. Ray)
implements :class:`Executor` (``map(fn, units)`` yielding results as they
finish) and registers itself there.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from .._io import write_bytes, write_text
from ..cache import ResultCache, cache_key
from ..errors import VizcnnError, unknown_name
from .html import render_template
from .ray_executor import RayExecutor
from .spec import GallerySpec, LayerSpec, ModelEntry, ReportSpec, load_spec

__all__ = [
    "EXECUTORS",
    "BuildReport",
    "Executor",
    "LocalExecutor",
    "WorkUnit",
    "build_gallery",
    "connections",
    "get_executor",
    "run_unit",
]  # fmt: skip


# -- work units and executors ---------------------------------------------------------------


@dataclass(frozen=True)
class WorkUnit:
    """One task: a view's expensive results for some channels of one layer.

    Everything a worker needs travels in the unit (no shared state), so the
    same unit runs in-process, in a process pool or on a cluster.
    """

    kind: str
    model: str
    weights: str | None
    weights_hash: str
    layer: str
    channels: tuple[int, ...]
    settings: tuple[tuple[str, Any], ...]
    cache_root: str
    #: Keyword arguments of :func:`vizcnn.load_model` beyond the weights (``input_size``, ``mean``, ...).
    load_options: tuple[tuple[str, Any], ...] = ()

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.settings)

    @property
    def model_key(self) -> tuple:
        return (self.model, self.weights, self.load_options)


class Executor(Protocol):
    """Runs ``fn`` on every unit; yields ``(unit, result)`` in completion order."""

    def map(self, fn: Callable[[WorkUnit], Any], units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Any]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """In-process with ``jobs=1``; a pool of ``jobs`` worker processes otherwise.

    ``jobs=None`` (the CLI's default) decides by the amount of work: a pool of
    one process per core when there are at least :data:`UNITS_PER_WORKER`
    units per core, else in-process. Measured on 2 cores: the MNIST gallery (22
    units) built 1.5x faster with a pool of 2 than in-process, while a build of
    one or two units is faster in-process (a worker needs seconds to start
    Python and import torch). Worker processes use one torch thread each; the
    pool is started lazily and reused across ``map`` calls.
    """

    def __init__(self, jobs: int | None = 1) -> None:
        if jobs is not None and jobs < 1:
            raise VizcnnError(f"--jobs must be at least 1, got {jobs}.")
        self.auto = jobs is None
        self.jobs = jobs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[WorkUnit], Any], units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Any]]:
        few = len(units) < UNITS_PER_WORKER * self.jobs if self.auto else len(units) <= 1
        if self.jobs == 1 or few:
            for unit in units:
                yield unit, fn(unit)
            return
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(_random_weights(),),
            )
        pending = {self._pool.submit(fn, u): u for u in units}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


#: With ``jobs=None``, the fewest work units per core for which a process pool pays off.
UNITS_PER_WORKER = 8


def _random_weights() -> dict[tuple, dict[str, Any]]:
    """State dicts of this process's models with ``random`` weights: a worker cannot redraw them."""
    return {key: model.net.state_dict() for key, model in _MODELS.items() if key[1] == "random"}


def _init_worker(random_weights: dict[tuple, dict[str, Any]]) -> None:
    import torch

    from ..models import load_model

    torch.set_num_threads(1)
    for (name, weights, load_options), state in random_weights.items():
        model = load_model(name, weights, **dict(load_options))
        model.net.load_state_dict(state)
        install_model(name, weights, model, load_options)


#: Executor constructors by ``--executor`` name; each takes ``jobs`` (and its own keyword options).
EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def get_executor(name: str = "local", jobs: int | None = 1, **options: Any) -> Executor:
    """The executor called ``name`` with ``jobs`` workers; ``options`` go to its constructor (``address`` for ray)."""
    if name not in EXECUTORS:
        raise unknown_name("executor", name, sorted(EXECUTORS))
    return EXECUTORS[name](jobs, **options)


#: Models of this process by (name, weights, load options).
_MODELS: dict[tuple, Any] = {}


def _worker_model(unit: WorkUnit):
    """The unit's model, loaded once per process and checked against the unit's weights hash."""
    from ..models import load_model

    if unit.model_key not in _MODELS:
        _MODELS[unit.model_key] = load_model(unit.model, unit.weights, **dict(unit.load_options))
    model = _MODELS[unit.model_key]
    if model.weights_hash != unit.weights_hash:
        raise VizcnnError(f"the weights of {unit.model} changed during the build; run it again.")
    return model


def install_model(name: str, weights: str | None, model, load_options: tuple = ()) -> None:
    """Use ``model`` for units of (``name``, ``weights``, ``load_options``) in this process instead of loading it."""
    _MODELS[(name, weights, load_options)] = model


def _entry_key(kind: str, unit_or_model, layer: str, channel: int, settings: dict[str, Any]) -> str:
    name, whash = (
        (unit_or_model.model, unit_or_model.weights_hash) if isinstance(unit_or_model, WorkUnit) else unit_or_model
    )
    return cache_key(kind=kind, model=name, weights=whash, layer=layer, channel=channel, **settings)


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _b64(data: bytes) -> str:
    """Image bytes as text for the JSON cache entries."""
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _compute_features(model, unit: WorkUnit, cache: ResultCache) -> None:
    """Feature visualizations of the unit's channels: one main render and ``diversity`` diverse ones."""
    from .. import optvis

    o = unit.options
    common = {"steps": o["steps"], "size": o["size"], "seed": o["seed"], "progress": False}
    main = optvis.render_channels(model, unit.layer, list(unit.channels), **common)
    diverse = None
    if o["diversity"] > 0:
        diverse = optvis.render_channels(model, unit.layer, list(unit.channels), diversity=o["diversity"], **common)
    for i, ch in enumerate(unit.channels):
        entry = {"main": _b64(_png(main.image(i))), "value": float(main.values[i])}
        if diverse is not None:
            per = len(diverse.images) // len(unit.channels)
            entry["diverse"] = [_b64(_png(diverse.image(i * per + j))) for j in range(per)]
        cache.put(
            "gallery-features", _entry_key("features", unit, unit.layer, ch, o), json.dumps(entry).encode(), ".json"
        )


def _compute_examples(model, unit: WorkUnit, cache: ResultCache) -> None:
    """The top dataset examples of each of the unit's channels (one pass over the data), as a grid and a summary."""
    from .. import examples

    o = unit.options
    found = examples.top_examples_for(model, unit.layer, unit.channels, o["data"], k=o["examples"], batch_size=256, progress=False)
    for ch, ex in found.items():
        entry = {"grid": _b64(_png(ex.to_image())), "summary": ex.as_dict()}
        cache.put(
            "gallery-examples", _entry_key("examples", unit, unit.layer, ch, o), json.dumps(entry).encode(), ".json"
        )


#: Worker-side computation per unit kind: ``fn(model, unit, cache)`` writes cache entries.
_UNIT_KINDS: dict[str, Callable[[Any, WorkUnit, ResultCache], None]] = {
    "features": _compute_features,
    "examples": _compute_examples,
}


def run_unit(unit: WorkUnit) -> int:
    """Compute one unit and store its results; returns the number of channels computed."""
    _UNIT_KINDS[unit.kind](_worker_model(unit), unit, ResultCache(unit.cache_root))
    return len(unit.channels)


# -- connections between channels ----------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A connection to ``channel`` of ``layer``: kernel-slice norm and the sign of its sum."""

    layer: str
    channel: int
    strength: float
    sign: int


_CHAINS: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def _conv_chain(model) -> list[str]:
    """Friendly names of the Conv2d layers in forward order (one dummy forward pass per network)."""
    from torch import nn

    from ..models import forward_order

    if model.net not in _CHAINS:
        order = forward_order(model.net, model.input.shape)
        _CHAINS[model.net] = [model.alias_of(p) for p, m, _ in order if isinstance(m, nn.Conv2d)]
    return _CHAINS[model.net]


def connections(model, layer: str, channel: int, *, top: int = 5) -> tuple[list[Link], list[Link]]:
    """The channels of the previous and next conv layer most strongly wired to ``channel``.

    Strength is the L2 norm of the kernel slice between the two channels
    (``W[out, in]``); ``sign`` is the sign of its sum (excitatory or
    inhibitory on average). Grouped convolutions and layers whose channel
    counts do not line up have no links.

    Returns:
        ``(incoming, outgoing)``: up to ``top`` links each, strongest first.
    """
    chain = _conv_chain(model)
    resolved = model.layer(layer)
    name = model.alias_of(resolved.path)
    if name not in chain:
        return [], []
    i = chain.index(name)

    def links(weight, other: str, along_out: bool) -> list[Link]:
        w = weight.detach().float().cpu()
        rows = w[:, channel] if along_out else w[channel]
        norms = rows.flatten(1).norm(dim=1)
        sums = rows.flatten(1).sum(dim=1)
        order = norms.argsort(descending=True)[:top].tolist()
        return [Link(other, int(j), float(norms[j]), 1 if sums[j] >= 0 else -1) for j in order]

    incoming = outgoing = []
    w = resolved.module.weight
    if i > 0:
        prev = model.layer(chain[i - 1]).module
        if w.shape[1] == prev.out_channels and resolved.module.groups == 1:
            incoming = links(w, chain[i - 1], along_out=False)
    if i + 1 < len(chain):
        nxt = model.layer(chain[i + 1]).module
        if nxt.weight.shape[1] == w.shape[0] and nxt.groups == 1:
            outgoing = links(nxt.weight, chain[i + 1], along_out=True)
    return incoming, outgoing


# -- building the site ---------------------------------------------------------------------


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


def slug(text: str) -> str:
    """A file-name-safe form of a model or layer name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


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
    key = _entry_key(kind, (entry.name, model.weights_hash), layer, channel, _settings(kind, entry))
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
            :class:`~vizcnn.report.spec.GallerySpec` with its loaded ``models``.
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
        css = resources.files("vizcnn.report") / "static" / "style.css"
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

    from .figure import image_grid, overlay

    grid_href, per_channel = None, {c: {"filter": None, "maps": []} for c in layer.channels}
    resolved = model.layer(layer.name)
    if "filters" in entry.views and isinstance(resolved.module, nn.Conv2d):
        from .. import filters

        grid = filters.plot(model, layer.name)
        grid_href = Path(site.image(f"{ldir}/filters.png", _png(grid.to_image()))).name
        first = _conv_chain(model)[:1] == [model.alias_of(resolved.path)]
        if first and (grid.reduce == "rgb" or grid.weights.shape[1] == 1):
            tiles = grid.tiles()  # one per filter, in the layer's order
            for c in layer.channels:
                tile = image_grid([tiles[c]], [f"#{c} norm {float(grid.norms[c]):.2f}"], tile_size=120)
                per_channel[c]["filter"] = Path(site.image(f"{ldir}/img/{c}-filter.png", _png(tile))).name
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
                rel = site.image(f"{ldir}/img/{c}-act{k}.png", _png(img))
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
                    site.image(f"{ldir}/img/{c}.png", _unb64(features[(layer.name, c)]["main"]))
            for pos, c in enumerate(layer.channels):
                _channel_page(site, spec, entry, model, layer, c, pos, features, examples, extras[c], layer_dirs, shown)
            cards = [
                {"channel": c, "href": f"{c}.html", "img": f"img/{c}.png" if (layer.name, c) in features else None,
                 "value": features[(layer.name, c)]["value"] if (layer.name, c) in features else None}
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
        html, images = _report(report, models, cache)
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
        diverse = [site.image(f"{ldir}/img/{c}-d{j}.png", _unb64(h)) for j, h in enumerate(feat.get("diverse", []))]
        ctx["features"] = {
            "main": f"img/{c}.png",
            "value": feat["value"],
            "diverse": [f"img/{Path(d).name}" for d in diverse],
        }
    ex = examples.get((layer.name, c))
    if ex:
        site.image(f"{ldir}/img/{c}-examples.png", _unb64(ex["grid"]))
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


def _report(report: ReportSpec, models: dict[int, Any], cache: ResultCache) -> tuple[str, dict[str, bytes]]:
    """A report page's HTML and the images beside it, cached by everything that determines them."""
    import hashlib

    model = models[report.model_index]
    image_id = (
        report.image
        if report.image.startswith("mnist:")
        else hashlib.sha256(Path(report.image).read_bytes()).hexdigest()
    )
    key = cache_key(
        model=model.name, weights=model.weights_hash, **{**asdict(report), "image": image_id, "model_index": 0}
    )
    raw = cache.get("gallery-report", key, ".json")
    if raw is None:
        html, images = (_lesson if report.kind == "lesson" else _dictionary)(report, model)
        raw = json.dumps({"html": html, "images": {k: _b64(v) for k, v in images.items()}}).encode()
        cache.put("gallery-report", key, raw, ".json")
    entry = json.loads(raw)
    return entry["html"], {k: _unb64(v) for k, v in entry["images"].items()}


def _dictionary(report: ReportSpec, model) -> tuple[str, dict[str, bytes]]:
    """The attribution dictionary's own self-contained page."""
    from .. import dictionary
    from ..data import load_image

    result = dictionary.attribution_dictionary(
        model, load_image(report.image), report.layer, report.target, vs=report.vs, method=report.method,
        top=report.top, fv_steps=report.fv_steps, source=Path(report.image).name,
    )  # fmt: skip
    return result.to_html(title=report.title), {}


def _lesson(report: ReportSpec, model) -> tuple[str, dict[str, bytes]]:
    """Template matching vs the CNN, robustness to deformations, and the conv/pool demos, as one page."""
    from ..data import load_image, mnist
    from ..evaluate import evaluate
    from ..lesson import TemplateClassifier, conv_demo, multichannel_demo, padding_demo, pool_demo, robustness
    from ..models.zoo import MNIST_INPUT

    test = mnist(report.data)
    train = mnist(report.train_data, "train") if report.train_data else mnist("sample")
    clf = TemplateClassifier.fit(train)
    pixels = MNIST_INPUT.to_tensor(load_image(report.image))[0]
    label = int(mnist("sample").labels[int(report.image[6:])]) if report.image.startswith("mnist:") else None
    rob = robustness(test, {model.name: model, "templates": clf})
    figures = {
        "templates": clf.explain(pixels, label),
        "robustness": rob,
        "conv": conv_demo(),
        "multichannel": multichannel_demo(),
        "padding": padding_demo(),
        "pool": pool_demo(),
    }
    stem = slug(report.title)
    images = {f"{stem}-{k}.png": _png(v.to_image()) for k, v in figures.items()}
    html = render_template(
        "gallery_lesson.html", css_href="../style.css", root="../", title=report.title, model=model.name,
        stem=stem, data=test.source, n=len(test), templates_source=clf.source,
        accuracy={model.name: evaluate(model, test).accuracy, "templates": clf.accuracy(test)},
        robustness=rob.as_dict(), explain={k: v.explain() for k, v in figures.items() if hasattr(v, "explain")},
    )  # fmt: skip
    return html, images
