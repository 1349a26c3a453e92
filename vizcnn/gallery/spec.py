"""Gallery specs: a TOML file saying which models, layers, channels and views a site shows.

    title = "MNIST CNNs"

    [render]                      # defaults for every model (all optional)
    steps = 48                    # feature-visualization optimizer steps
    size = 28                     # render size in pixels (default: each model's input size)
    diversity = 3                 # extra diverse renders per channel
    examples = 8                  # dataset examples per channel

    [[models]]
    name = "mnist-cnn"            # weights = "FILE" for other weights
    layers = ["conv1", { name = "conv2", channels = "0-7" }]
    channels = "all"              # default for layers given by name only
    views = ["features", "examples", "filters", "connections"]   (see VIEWS)
    images = ["mnist:7"]          # activation maps on these images

    [[reports]]                   # extra pages (see REPORTS)
    kind = "attribution-dictionary"
    model = "mnist-cnn"
    layer = "relu3"
    image = "mnist:7"
    target = "7"
    vs = "1"

    [[reports]]                   # interactive: several images with a picker
    kind = "dictionary"
    model = "mnist-cnn"
    layer = "conv3"
    images = ["mnist:7", "mnist:42"]

    [[reports]]
    kind = "atlas"
    model = "mnist-cnn"
    layer = "relu5"

:func:`load_spec` validates everything before any rendering: an unknown key,
layer or view, or a channel out of range raises a
:class:`~vizcnn.errors.VizcnnError` naming the file, the key path
(``models[0].layers[2]``), its line when it can be found, and what is allowed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..activations import channel_count
from ..errors import VizcnnError, WeightsNotFoundError, parse_channels, unknown_name
from ..limits import MAX_SEED

__all__ = [
    "REPORTS",
    "VIEWS",
    "GallerySpec",
    "LayerSpec",
    "ModelEntry",
    "RenderSettings",
    "ReportSpec",
    "load_spec",
    "parse_spec",
]

#: Views a gallery can show, with what each adds to the pages.
VIEWS = {
    "filters": "conv layers: the layer's filter grid; the first conv layer also shows each channel's own filter",
    "examples": "per channel: the dataset images (render.data) that excite it most, with their receptive-field crops",
    "features": "feature visualizations: a layer page of thumbnails, and per channel a main render plus `diversity` diverse ones",
    "connections": "per channel: the channels of the previous and next conv layer it is wired to most strongly (weight norms)",
    "projections": "per channel, with examples: beside each dataset example its deconvnet projection back to pixels (Zeiler & Fergus), cropped to the receptive field",
}

_TOP_KEYS = {"title", "description", "render", "models", "reports"}
_MODEL_KEYS = {
    "name", "weights", "title", "note", "layers", "channels", "views", "render", "images",
    "input_size", "mean", "std", "classes",  # input description of a model that carries none (see `vizcnn layers --help`)
}  # fmt: skip
_REPORT_KEYS = {
    "attribution-dictionary": {
        "kind",
        "title",
        "model",
        "weights",
        "layer",
        "image",
        "target",
        "vs",
        "top",
        "method",
        "fv_steps",
    },
    "lesson": {"kind", "title", "model", "weights", "image", "data", "train_data"},
    "dictionary": {"kind", "title", "model", "weights", "layer", "image", "images", "target", "vs", "top", "groups",
                   "method", "fv_steps"},
    "flow": {"kind", "title", "model", "weights", "layer", "to_layer", "image", "target", "vs", "nodes", "top",
             "groups", "fv_steps"},
    "atlas": {"kind", "title", "model", "weights", "layer", "data", "embedding", "grid", "min_count", "max_points",
              "per_image", "fv_steps"},
}  # fmt: skip
_REPORT_REQUIRED = {
    "attribution-dictionary": ("model", "layer", "image", "target"), "lesson": ("model",),
    "dictionary": ("model", "layer"), "flow": ("model", "layer", "to_layer", "target"), "atlas": ("model", "layer"),
}  # fmt: skip
#: Report pages a gallery can add.
REPORTS = {
    "attribution-dictionary": "the channels of a layer that most support a class, another class, and one over the other",
    "lesson": "the MNIST lesson: template matching vs the CNN, robustness to deformations, convolution and pooling demos",
    "dictionary": "interactive semantic dictionary of a layer for a list of images: top channels and neuron groups per position, attribution heat maps",
    "flow": "attribution flowing from one layer's channels (or neuron groups) to a later layer's and on to two classes",
    "atlas": "activation atlas of a layer over the data set: a 2-D layout of its activations, drawn cell by cell",
}
_LAYER_KEYS = {"name", "channels", "title"}
_RENDER_DEFAULTS = {"steps": 48, "size": 0, "diversity": 2, "seed": 0, "examples": 8, "data": "sample", "batch": 8}


@dataclass(frozen=True)
class RenderSettings:
    """How channels are rendered; part of every cache key."""

    steps: int = 48
    size: int = 0  # 0: the model's input size
    diversity: int = 2
    seed: int = 0
    examples: int = 8
    data: str = "sample"
    batch: int = 8

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _RENDER_DEFAULTS}


@dataclass(frozen=True)
class LayerSpec:
    name: str
    channels: tuple[int, ...]
    title: str | None = None


@dataclass(frozen=True)
class ModelEntry:
    name: str
    weights: str | None
    title: str
    note: str
    layers: tuple[LayerSpec, ...]
    views: tuple[str, ...]
    render: RenderSettings
    images: tuple[str, ...] = ()
    #: Keyword arguments for :func:`vizcnn.load_model` (``input_size``, ``mean``, ``std``, ``categories``).
    load_options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ReportSpec:
    """A report page; ``model_index`` keys the loaded models."""

    kind: str
    title: str
    model_index: int
    image: str
    layer: str = ""
    target: int | None = 0  # None in a dictionary: each image's own top two classes
    vs: int | None = None
    top: int = 8
    method: str = "LayerGradientXActivation"
    fv_steps: int = 0
    data: str = "sample"
    train_data: str | None = None
    images: tuple[str, ...] = ()  # a dictionary's images (``image`` is the first)
    groups: int = 4
    to_layer: str = ""
    nodes: str = "channels"
    embedding: str = "umap"
    grid: int = 10
    min_count: int = 4
    max_points: int = 5000
    per_image: bool = False
    n_steps: int = 256  # a flow's integration steps (vizcnn.flow's default; part of the cache key)


@dataclass(frozen=True)
class GallerySpec:
    """A validated gallery spec; ``source`` is the file it came from (or ``<string>``)."""

    source: str
    title: str
    description: str
    models: tuple[ModelEntry, ...] = field(default_factory=tuple)
    reports: tuple[ReportSpec, ...] = field(default_factory=tuple)


class _Where:
    """Builds errors that name the spec file, the key path and its line."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def line_of(self, path: tuple, needle: str | None = None) -> int | None:
        """1-based line of the key ``path`` (or of ``needle`` after it); ``None`` when not found.

        The closest match wins: the assignment of the key or of the array that
        holds it, else the header of the deepest enclosing table.
        """
        path = tuple(path)
        table: tuple = ()
        counts: dict[str, int] = {}
        found = best = None
        for i, raw in enumerate(self.lines):
            line = raw.split("#", 1)[0].strip()
            m = re.fullmatch(r"\[\[\s*([\w.\-]+)\s*\]\]", line) or re.fullmatch(r"\[\s*([\w.\-]+)\s*\]", line)
            if m:
                if line.startswith("[["):
                    counts[m.group(1)] = counts.get(m.group(1), -1) + 1
                table = self._table_path(m.group(1), counts)
                if table == path[: len(table)]:
                    best = i
                continue
            km = re.match(r"([\w\-]+|\"[^\"]*\")\s*=", line)
            if km:
                full = table + (km.group(1).strip('"'),)
                if full == path[: len(full)]:
                    found = i
                    break
        start = found if found is not None else best
        if start is None:
            return None
        if needle and found is not None:
            for j in range(start, min(len(self.lines), start + 200)):
                if needle in self.lines[j]:
                    return j + 1
        return start + 1

    @staticmethod
    def _table_path(name: str, counts: dict[str, int]) -> tuple:
        parts: list = []
        prefix = ""
        for part in name.split("."):
            prefix = f"{prefix}.{part}" if prefix else part
            parts.append(part)
            if prefix in counts:
                parts.append(counts[prefix])
        return tuple(parts)

    def error(self, path: tuple, message: str, needle: str | None = None) -> VizcnnError:
        key = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))
        line = self.line_of(path, needle) if path else None
        where = f"{self.source}, line {line}" if line else self.source
        return VizcnnError(f"{where}: {key or 'spec'}: {message}")


def _check_keys(where: _Where, table: dict, allowed: set[str], path: tuple) -> None:
    for key in table:
        if key not in allowed:
            err = unknown_name("key", key, sorted(allowed))
            raise where.error(path + (key,), str(err))


def _typed(where: _Where, value: Any, kind: type | tuple, path: tuple, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise where.error(path, f"expected {what}, got {value!r}.")
    return value


def _at_least(where: _Where, value: Any, low: int, path: tuple) -> int:
    v = _typed(where, value, int, path, "a whole number")
    if v < low:
        raise where.error(path, f"must be at least {low}, got {v}.")
    return v


def _render(where: _Where, table: Any, base: RenderSettings, path: tuple) -> RenderSettings:
    _typed(where, table, dict, path, "a table of render settings")
    _check_keys(where, table, set(_RENDER_DEFAULTS), path)
    values = {}
    for key, value in table.items():
        if key == "data":
            values[key] = _data_folder(where, value, path + (key,))
        else:
            v = _typed(where, value, int, path + (key,), "a whole number")
            low = 0 if key in ("diversity", "seed", "examples") else 1
            if v < low:
                raise where.error(path + (key,), f"must be at least {low}, got {v}.")
            if key == "seed" and v > MAX_SEED:
                raise where.error(path + (key,), f"must be at most 2**64 - 1 ({MAX_SEED}), got {v}.")
            values[key] = v
    return replace(base, **values)


def _data_folder(where: _Where, value: Any, path: tuple) -> str:
    """``render.data``: 'sample', or a folder (relative to the spec, like weights and images) that exists now."""
    value = _typed(where, value, str, path, "'sample', an MNIST folder or a folder of images")
    if value == "sample":
        return value
    if not os.path.isabs(value) and where.source != "<string>":
        value = str(Path(where.source).parent / value)
    if not Path(value).is_dir():
        raise where.error(path, f"{value!r} is not a folder; give 'sample', an MNIST folder or a folder of images (relative to the spec).")
    return value


def _channels(where: _Where, value: Any, count: int, path: tuple, needle: str | None = None) -> tuple[int, ...]:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    _typed(where, value, str, path, "'all', a range such as '0-15', a list such as '1,4,9' or [1, 4, 9]")
    try:
        return tuple(parse_channels(value, count))
    except VizcnnError as exc:
        raise where.error(path, str(exc), needle=needle) from None


def parse_spec(
    text: str, source: str = "<string>", *, load=None, allow_code: bool = False
) -> tuple[GallerySpec, dict[str, Any]]:
    """Validate spec ``text``; return the spec and the loaded models by entry index.

    ``load(name, weights)`` builds each model (default :func:`vizcnn.load_model`);
    layers and channels are checked against the real network. A model given as
    ``module.path:callable`` imports and runs Python code, so it is refused
    unless ``allow_code`` (the CLI's ``--allow-code``): specs are shared like
    documents, and no key of a spec can grant this.
    """
    if not isinstance(allow_code, bool):
        raise TypeError(f"allow_code must be True or False, got {type(allow_code).__name__}")
    if load is None:
        from ..models import load_model as load
    where = _Where(source, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise VizcnnError(f"{source}: not valid TOML: {exc}. See galleries/mnist.toml for an example.") from None
    _check_keys(where, data, _TOP_KEYS, ())
    title = _typed(where, data.get("title", Path(source).stem), str, ("title",), "a string")
    description = _typed(where, data.get("description", ""), str, ("description",), "a string")
    base = _render(where, data.get("render", {}), RenderSettings(**_RENDER_DEFAULTS), ("render",))
    models_raw = data.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise where.error(("models",), "a gallery needs at least one [[models]] table with a name and layers.")
    entries: list[ModelEntry] = []
    loaded: dict[int, Any] = {}
    for i, m in enumerate(models_raw):
        path = ("models", i)
        _typed(where, m, dict, path, "a table")
        _check_keys(where, m, _MODEL_KEYS, path)
        if "name" not in m:
            raise where.error(path, 'every [[models]] table needs a name, e.g. name = "mnist-cnn".')
        name = _typed(where, m["name"], str, path + ("name",), "a model name")
        if Path(name).suffix in (".pt", ".pt2") and not os.path.isabs(name) and source != "<string>":
            name = str(Path(source).parent / name)  # a model file, like a weights file, is relative to the spec
        weights = m.get("weights")
        if weights is not None:
            weights = _typed(where, weights, str, path + ("weights",), "a weights file or 'random'")
            if weights != "random" and not os.path.isabs(weights) and source != "<string>":
                weights = str(Path(source).parent / weights)
        load_options = _load_options(where, m, path, source)
        _refuse_code(where, path + ("name",), name, allow_code)
        try:
            model = load(name, weights, **dict(load_options))
        except WeightsNotFoundError as exc:
            hint = ' In a gallery spec, give a weights file as weights = "FILE" in this [[models]] table.'
            raise where.error(path + ("name",), str(exc) + hint) from None
        except VizcnnError as exc:
            raise where.error(path + ("name",), str(exc)) from None
        loaded[i] = model
        views = m.get("views", list(VIEWS))
        _typed(where, views, list, path + ("views",), f"a list of views from {sorted(VIEWS)}")
        for j, v in enumerate(views):
            _typed(where, v, str, path + ("views", j), f"a view name from {sorted(VIEWS)}")
            if v not in VIEWS:
                raise where.error(path + ("views", j), str(unknown_name("view", v, sorted(VIEWS))), needle=f'"{v}"')
        if "projections" in views and "examples" not in views:
            raise where.error(path + ("views",), 'the projections view is drawn beside the dataset examples: add "examples" to views.')
        render = _render(where, m.get("render", {}), base, path + ("render",))
        if not render.size:
            render = replace(render, size=model.input.size)
        default_channels = m.get("channels", "all")
        layers_raw = m.get("layers")
        _typed(
            where, layers_raw, list, path + ("layers",), "a list of layer names or {name = ..., channels = ...} tables"
        )
        if not layers_raw:
            raise where.error(path + ("layers",), f"list at least one layer; run `vizcnn layers {name}` to see them.")
        layers = []
        for j, lay in enumerate(layers_raw):
            lpath = path + ("layers", j)
            if isinstance(lay, str):
                lay = {"name": lay}
            _typed(where, lay, dict, lpath, "a layer name or a {name = ..., channels = ...} table")
            _check_keys(where, lay, _LAYER_KEYS, lpath)
            lname = _typed(where, lay.get("name"), str, lpath + ("name",), "a layer name")
            try:
                layer = model.layer(lname)
            except VizcnnError as exc:
                raise where.error(lpath, str(exc), needle=f'"{lname}"') from None
            count = channel_count(model, layer)  # the one dummy pass, stopped after the layer
            chans = lay.get("channels", default_channels)
            cpath = lpath + ("channels",) if "channels" in lay else path + ("channels",)
            channels = _channels(where, chans, count, cpath, needle=f'"{lname}"' if "channels" in lay else None)
            ltitle = lay.get("title")
            if ltitle is not None:
                _typed(where, ltitle, str, lpath + ("title",), "a string")
            layers.append(LayerSpec(lname, channels, ltitle))
        entries.append(
            ModelEntry(
                name=name,
                weights=weights,
                title=_typed(where, m.get("title", name), str, path + ("title",), "a string"),
                note=_typed(where, m.get("note", ""), str, path + ("note",), "a string"),
                layers=tuple(layers),
                views=tuple(views),
                render=render,
                load_options=load_options,
                images=tuple(_image(where, ref, path + ("images", j), source)
                             for j, ref in enumerate(_typed(where, m.get("images", []), list, path + ("images",),
                                                            "a list of images (files or mnist:K)"))),
            )
        )  # fmt: skip
    reports = _reports(where, data.get("reports", []), entries, loaded, source, load, allow_code)
    return GallerySpec(source, title, description, tuple(entries), tuple(reports)), loaded


def _refuse_code(where: _Where, path: tuple, name: str, allow_code: bool) -> None:
    """Refuse a ``module.path:callable`` model (importing it runs code) unless the build allows code."""
    from ..models.custom import is_import_path

    if is_import_path(name) and not allow_code:
        raise where.error(
            path,
            f"the model {name!r} is Python code (module.path:callable) that building this gallery would import "
            "and run, and a spec runs no code unless you allow it: read the spec and that module, then build "
            "with `vizcnn gallery SPEC --allow-code` (build_gallery(..., allow_code=True)).",
            needle=f'"{name}"',
        )


def _load_options(where: _Where, m: dict, path: tuple, source: str) -> tuple[tuple[str, Any], ...]:
    """``input_size``, ``mean``, ``std`` and ``classes`` of a [[models]] table, as load_model keywords.

    Each takes the CLI flag's text form (``"3x32x32"``, ``"0.5,0.5,0.5"``, a
    classes file relative to the spec) or a TOML list.
    """
    from ..models.custom import parse_floats, parse_input_size, read_classes

    def parsed(key: str, parse: Callable[..., Any], *args: Any) -> Any:
        try:
            return parse(*args)
        except VizcnnError as exc:
            raise where.error(path + (key,), str(exc)) from None

    def numbers(key: str, kind: type) -> tuple:
        v = m[key]
        if isinstance(v, str):
            return tuple(parsed(key, parse_input_size, v) if key == "input_size" else parsed(key, parse_floats, v, key))
        if not (isinstance(v, list) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
            raise where.error(path + (key,), f"expected a list of finite numbers or a string, got {v!r}.")
        if key == "input_size":
            return tuple(parsed(key, parse_input_size, "x".join(str(x) for x in v)))
        return tuple(kind(x) for x in v)

    options = [(key, numbers(key, int if key == "input_size" else float)) for key in ("input_size", "mean", "std") if key in m]
    if "classes" in m:
        v = m["classes"]
        if isinstance(v, str):
            file = v if os.path.isabs(v) or source == "<string>" else str(Path(source).parent / v)
            options.append(("categories", tuple(parsed("classes", read_classes, file))))
        elif isinstance(v, list) and v and all(isinstance(c, str) for c in v):
            options.append(("categories", tuple(v)))
        else:
            raise where.error(path + ("classes",), f"expected a classes file or a list of names, got {v!r}.")
    return tuple(options)


def _image(where: _Where, ref: Any, path: tuple, source: str) -> str:
    """An image reference (``mnist:K`` or a file relative to the spec), checked by opening it."""
    from ..data import load_image

    ref = _typed(where, ref, str, path, "an image file or mnist:K")
    if not ref.startswith(("mnist:", "photo:")) and not os.path.isabs(ref) and source != "<string>":
        ref = str(Path(source).parent / ref)
    try:
        load_image(ref)
    except VizcnnError as exc:
        raise where.error(path, str(exc)) from None
    return ref


def _reports(
    where: _Where, raw: Any, entries: list[ModelEntry], loaded: dict[int, Any], source: str, load, allow_code: bool
) -> list[ReportSpec]:
    _typed(where, raw, list, ("reports",), "a list of [[reports]] tables")
    out = []
    for i, r in enumerate(raw):
        path = ("reports", i)
        _typed(where, r, dict, path, "a table")
        kind = _typed(where, r.get("kind"), str, path + ("kind",), f"a report kind from {sorted(REPORTS)}")
        if kind not in REPORTS:
            raise where.error(path + ("kind",), str(unknown_name("report kind", str(kind), sorted(REPORTS))))
        _check_keys(where, r, _REPORT_KEYS[kind], path)
        for key in _REPORT_REQUIRED[kind]:
            if key not in r:
                raise where.error(
                    path, f"a {kind} report needs {key}; its keys: {', '.join(sorted(_REPORT_KEYS[kind]))}."
                )
        name = _typed(where, r["model"], str, path + ("model",), "a model name")
        weights = r.get("weights")
        if weights is not None:
            _typed(where, weights, str, path + ("weights",), "a weights file or 'random'")
        if weights is not None and weights != "random" and not os.path.isabs(weights) and source != "<string>":
            weights = str(Path(source).parent / weights)
        index = next((k for k, e in enumerate(entries) if e.name == name and e.weights == weights), None)
        if index is None:
            index = 1000 + i
            _refuse_code(where, path + ("model",), name, allow_code)
            try:
                loaded[index] = load(name, weights)
            except VizcnnError as exc:
                raise where.error(path + ("model",), str(exc)) from None
        model = loaded[index]
        title = _typed(where, r.get("title", REPORTS[kind].split(":")[0]), str, path + ("title",), "a string")
        image = _image(where, r.get("image", "mnist:0"), path + ("image",), source)
        if kind == "lesson":
            if model.input.shape != (1, 28, 28):
                raise where.error(
                    path + ("model",),
                    f"the lesson needs an MNIST model (mnist-cnn, lenet); {name} takes {model.input.shape}.",
                )
            data = {}
            for key in ("data", "train_data"):
                if key in r:
                    value = _typed(where, r[key], str, path + (key,), "'sample' or an MNIST folder")
                    data[key] = _data_folder(where, value, path + (key,))
            out.append(ReportSpec(kind, title, index, image, **data))
            continue
        if kind in _INTERACTIVE:
            out.append(_INTERACTIVE[kind](where, r, path, ReportSpec(kind, title, index, image), model, source))
            continue
        layer = _typed(where, r["layer"], str, path + ("layer",), "a layer name")
        for key in ("target", "vs"):
            if r.get(key) is not None:
                _typed(where, r[key], (str, int), path + (key,), "a class name or index")
        try:
            model.layer(layer)
            target = model.class_index(r["target"])
            vs = model.class_index(r["vs"]) if r.get("vs") is not None else None
        except VizcnnError as exc:
            raise where.error(path, str(exc)) from None
        if vs == target:
            raise where.error(path + ("vs",), f"target and vs are the same class ({model.categories[target]!r}); pick two different classes.")
        method = _typed(
            where, r.get("method", "LayerGradientXActivation"), str, path + ("method",), "an attribution method"
        )
        from ..attribution import resolve_method

        try:
            method = resolve_method(method)
        except VizcnnError as exc:
            raise where.error(path + ("method",), str(exc)) from None
        out.append(
            ReportSpec(
                kind, title, index, image, layer=layer, target=target, vs=vs,
                top=_at_least(where, r.get("top", 8), 1, path + ("top",)),
                method=method,
                fv_steps=_at_least(where, r.get("fv_steps", 0), 0, path + ("fv_steps",)),
            )
        )  # fmt: skip
    return out


def _number(where: _Where, r: dict, key: str, path: tuple, default: int, low: int, high: int) -> int:
    value = _typed(where, r.get(key, default), int, path + (key,), "a whole number")
    if not low <= value <= high:
        raise where.error(path + (key,), f"must be between {low} and {high}, got {value}.")
    return value


def _choice(where: _Where, r: dict, key: str, path: tuple, choices: tuple[str, ...], what: str) -> str:
    value = _typed(where, r.get(key, choices[0]), str, path + (key,), f"one of {', '.join(choices)}")
    if value not in choices:
        raise where.error(path + (key,), str(unknown_name(what, value, list(choices))))
    return value


def _layer_and_classes(where: _Where, r: dict, path: tuple, model, keys: tuple[str, ...]) -> dict[str, Any]:
    """The report's layers (checked against the model) and classes (names or indices -> indices)."""
    out: dict[str, Any] = {}
    for key in keys:
        if key in ("layer", "to_layer"):
            out[key] = _typed(where, r[key], str, path + (key,), "a layer name")
            try:
                model.layer(out[key])
            except VizcnnError as exc:
                raise where.error(path + (key,), str(exc)) from None
        elif r.get(key) is not None:
            try:
                out[key] = model.class_index(r[key])
            except VizcnnError as exc:
                raise where.error(path + (key,), str(exc)) from None
    return out


def _dictionary_report(where: _Where, r: dict, path: tuple, base: ReportSpec, model, source: str) -> ReportSpec:
    if "images" in r and "image" in r:
        raise where.error(path + ("images",), "give either image or images, not both.")
    raw = _typed(where, r.get("images", [r.get("image", "mnist:0")]), list, path + ("images",),
                 "a list of images (files or mnist:K)")  # fmt: skip
    if not 1 <= len(raw) <= 16:
        raise where.error(path + ("images",), f"list between 1 and 16 images, got {len(raw)}.")
    images = tuple(_image(where, ref, path + ("images", j), source) for j, ref in enumerate(raw))
    found = _layer_and_classes(where, r, path, model, ("layer", "target", "vs"))
    if "vs" in found and "target" not in found:
        raise where.error(path + ("vs",), "vs needs a target (class A) too.")
    method = _typed(where, r.get("method", "LayerGradientXActivation"), str, path + ("method",), "an attribution method")
    from ..attribution import resolve_method

    try:
        method = resolve_method(method)
    except VizcnnError as exc:
        raise where.error(path + ("method",), str(exc)) from None
    return replace(
        base, image=images[0], images=images, layer=found["layer"], target=found.get("target"), vs=found.get("vs"),
        top=_number(where, r, "top", path, 6, 1, 64), groups=_number(where, r, "groups", path, 4, 1, 32),
        method=method, fv_steps=_number(where, r, "fv_steps", path, 32, 0, 4096),
    )  # fmt: skip


def _flow_report(where: _Where, r: dict, path: tuple, base: ReportSpec, model, source: str) -> ReportSpec:
    from ..flow import MODES, check_order

    found = _layer_and_classes(where, r, path, model, ("layer", "to_layer", "target", "vs"))
    try:
        check_order(model, found["layer"], found["to_layer"])
    except VizcnnError as exc:
        raise where.error(path + ("to_layer",), str(exc)) from None
    return replace(
        base, layer=found["layer"], to_layer=found["to_layer"], target=found["target"], vs=found.get("vs"),
        nodes=_choice(where, r, "nodes", path, MODES, "kind of node"), top=_number(where, r, "top", path, 5, 1, 32),
        groups=_number(where, r, "groups", path, 4, 1, 32), fv_steps=_number(where, r, "fv_steps", path, 32, 0, 4096),
    )  # fmt: skip


def _atlas_report(where: _Where, r: dict, path: tuple, base: ReportSpec, model, source: str) -> ReportSpec:
    from ..atlas import EMBEDDINGS

    data = _data_folder(where, r.get("data", "sample"), path + ("data",))
    per_image = _typed(where, r.get("per_image", False), bool, path + ("per_image",), "true or false")
    return replace(
        base, layer=_layer_and_classes(where, r, path, model, ("layer",))["layer"], data=data,
        embedding=_choice(where, r, "embedding", path, EMBEDDINGS, "embedding"), grid=_number(where, r, "grid", path, 10, 1, 64),
        min_count=_number(where, r, "min_count", path, 4, 1, 100_000),
        max_points=_number(where, r, "max_points", path, 5000, 10, 200_000), per_image=per_image,
        fv_steps=_number(where, r, "fv_steps", path, 64, 0, 4096),
    )  # fmt: skip


#: Report kinds with their own keys: kind -> parser of its [[reports]] table.
_INTERACTIVE: dict[str, Callable[..., ReportSpec]] = {
    "dictionary": _dictionary_report, "flow": _flow_report, "atlas": _atlas_report,
}  # fmt: skip


def load_spec(path: str | os.PathLike, *, load=None, allow_code: bool = False) -> tuple[GallerySpec, dict[str, Any]]:
    """Read and validate the spec file at ``path`` (see :func:`parse_spec`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VizcnnError(f"gallery spec {str(path)!r} does not exist; the shipped specs are in galleries/.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VizcnnError(f"cannot read gallery spec {str(path)!r}: {exc}.") from None
    return parse_spec(text, str(path), load=load, allow_code=allow_code)
