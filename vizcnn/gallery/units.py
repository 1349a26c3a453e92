"""Work units: the expensive part of a gallery build, cut into tasks any executor can run.

A :class:`WorkUnit` carries everything a worker needs (no shared state); each
writes its results into a :class:`~vizcnn.cache.ResultCache` keyed by (model,
weights hash, layer, channel, settings), so the same unit runs in-process, in
a process pool or on a Ray cluster.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..cache import ResultCache, cache_key
from ..errors import VizcnnError

__all__ = ["WorkUnit", "install_model", "run_unit"]


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


#: Models of this process by (name, weights, load options).
_MODELS: dict[tuple, Any] = {}


def worker_model(unit: WorkUnit):
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


def entry_key(kind: str, unit_or_model, layer: str, channel: int, settings: dict[str, Any]) -> str:
    name, whash = (
        (unit_or_model.model, unit_or_model.weights_hash) if isinstance(unit_or_model, WorkUnit) else unit_or_model
    )
    return cache_key(kind=kind, model=name, weights=whash, layer=layer, channel=channel, **settings)


def png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    """Image bytes as text for the JSON cache entries."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
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
        entry = {
            "main": b64(png(main.image(i))), "value": float(main.values[i]), "objective": main.objective,
            "plain_value": float(main.baselines[i]), "baseline": main.baseline, "failed": bool(main.failed[i]),
        }  # fmt: skip
        if diverse is not None:
            per = len(diverse.images) // len(unit.channels)
            # a failed diverse render shows nothing about the channel: it is left out, and the page says how many
            kept = [i * per + j for j in range(per) if not diverse.failed[i * per + j]]
            entry["diverse"] = [b64(png(diverse.image(k))) for k in kept]
            entry["diverse_failed"] = per - len(kept)
        cache.put(
            "gallery-features", entry_key("features", unit, unit.layer, ch, o), json.dumps(entry).encode(), ".json"
        )


def _compute_examples(model, unit: WorkUnit, cache: ResultCache) -> None:
    """The top dataset examples of each of the unit's channels (one pass over the data), as a grid and a summary."""
    from .. import examples

    o = unit.options
    found = examples.top_examples_for(model, unit.layer, unit.channels, o["data"], k=o["examples"], batch_size=256,
                                      progress=False, projection=o.get("projection"))  # fmt: skip
    for ch, ex in found.items():
        entry = {"grid": b64(png(ex.to_image())), "summary": ex.as_dict()}
        cache.put(
            "gallery-examples", entry_key("examples", unit, unit.layer, ch, o), json.dumps(entry).encode(), ".json"
        )


#: Worker-side computation per unit kind: ``fn(model, unit, cache)`` writes cache entries.
_UNIT_KINDS: dict[str, Callable[[Any, WorkUnit, ResultCache], None]] = {
    "features": _compute_features,
    "examples": _compute_examples,
}


def run_unit(unit: WorkUnit) -> int:
    """Compute one unit and store its results; returns the number of channels computed."""
    _UNIT_KINDS[unit.kind](worker_model(unit), unit, ResultCache(unit.cache_root))
    return len(unit.channels)
