#!/usr/bin/env python
"""Does the learned MNIST prior (``--param prior``) give better renders of mnist-cnn than pixels?

Two measures from issue 12, for each parameterization with the engine's
defaults otherwise (256 steps, standard transforms, lr 0.05); the baseline is
``fourier``, measured in the same run:

* ``class_transfer``: the share of class renders of mnist-cnn (``fc2``, the
  class logits; 10 classes x 3 seeds) that the bundled LeNet, a different
  network, classifies as the intended class with p > 0.5. Goal: 0.9 or more.
* ``render_beats_data``: the share of mnist-cnn's conv channels (conv1-conv4,
  176 in all) whose render reaches at least the objective (the channel's mean
  activation) of the best digit of the 10k test set under the same objective.

``--model lenet`` measures LeNet the same way (``fc3``, conv1-conv2, mnist-cnn
as the judge).

    python benchmarks/prior_quality.py                  # full: every channel, 3 seeds (minutes)
    python benchmarks/prior_quality.py --quick          # 4 channels a layer, 1 seed, 128 steps
    python benchmarks/prior_quality.py --model lenet    # LeNet's renders, mnist-cnn as the judge

Ends with one JSON line. :func:`measure` returns the same dictionary, for
other benchmarks to include.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vizcnn import load_model, optvis  # noqa: E402
from vizcnn.data import mnist  # noqa: E402
from vizcnn.hooks import capture  # noqa: E402

#: model -> (its class logits layer, its conv layers, the other network that judges its class renders)
MODELS = {
    "mnist-cnn": ("fc2", ("conv1", "conv2", "conv3", "conv4"), "lenet"),
    "lenet": ("fc3", ("conv1", "conv2"), "mnist-cnn"),
}


def class_transfer(model, logits: str, judge, param: str, seeds: Sequence[int], steps: int) -> float:
    """Share of ``model``'s class renders (every class x ``seeds``) that ``judge`` reads as the class with p > 0.5."""
    hits = total = 0
    classes = list(range(len(model.categories)))
    for seed in seeds:
        res = optvis.render_channels(model, logits, classes, steps=steps, seed=seed, param=param, progress=False)
        with torch.no_grad():
            p = judge(judge.input.normalize(res.images.to(judge.device))).softmax(1).cpu()
        hits += int((p[torch.arange(len(classes)), torch.tensor(classes)] > 0.5).sum())
        total += len(classes)
    return hits / total


@torch.no_grad()
def best_data_values(model, digits: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Per layer, each channel's highest mean activation over ``digits`` ``(N, 1, 28, 28)`` in [0, 1]."""
    modules = {name: model.layer(name).module for name in layers}
    best = {name: None for name in layers}
    with capture(model.net, modules, stop=True) as cap:
        for i in range(0, len(digits), 1000):
            cap.clear()
            cap.run(model.input.normalize(digits[i : i + 1000].to(model.device)))
            for name in layers:
                m = cap[name].flatten(2).mean(2).amax(0).cpu()
                best[name] = m if best[name] is None else torch.maximum(best[name], m)
    return best


def render_beats_data(
    model, best: dict[str, torch.Tensor], param: str, channels: dict[str, list[int]], steps: int
) -> tuple[float, dict[str, float]]:
    """Share of the channels whose render's objective is at least the best digit's; also per layer."""
    per_layer = {}
    for layer, chans in channels.items():
        res = optvis.render_channels(model, layer, chans, steps=steps, param=param, progress=False)
        per_layer[layer] = [v >= float(best[layer][c]) for c, v in zip(chans, res.values)]
    flat = [b for bs in per_layer.values() for b in bs]
    return sum(flat) / len(flat), {k: round(sum(v) / len(v), 3) for k, v in per_layer.items()}


def measure(
    data: str | Path, *, model: str = "mnist-cnn", quick: bool = False, params: Sequence[str] = ("fourier", "prior")
) -> dict:
    """Both measures for ``model`` and every parameterization in ``params`` (the first is the baseline)."""
    logits, conv_layers, judge_name = MODELS[model]
    net, judge = load_model(model, device="cpu"), load_model(judge_name, device="cpu")
    digits, _ = mnist(data, "test").tensors()
    best = best_data_values(net, digits, conv_layers)
    steps = 128 if quick else 256
    seeds = [0] if quick else [0, 1, 2]
    channels = {
        layer: list(range(4)) if quick else list(range(len(best[layer]))) for layer in conv_layers
    }  # fmt: skip
    out: dict = {
        "benchmark": "prior_quality", "model": model, "quick": quick, "baseline": params[0], "steps": steps,
        "seeds": len(seeds), "channels": sum(map(len, channels.values())), "judge": judge_name,
    }  # fmt: skip
    for param in params:
        start = time.perf_counter()
        ct = class_transfer(net, logits, judge, param, seeds, steps)
        rbd, per_layer = render_beats_data(net, best, param, channels, steps)
        out[param] = {
            "class_transfer": round(ct, 3), "render_beats_data": round(rbd, 3),
            "render_beats_data_per_layer": per_layer, "seconds": round(time.perf_counter() - start, 1),
        }  # fmt: skip
    base = out[params[0]]
    for param in params[1:]:
        out[param]["minus_baseline"] = {
            k: round(out[param][k] - base[k], 3) for k in ("class_transfer", "render_beats_data")
        }  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"), help="folder of MNIST IDX files")
    p.add_argument("--model", choices=list(MODELS), default="mnist-cnn", help="whose renders (default mnist-cnn)")
    p.add_argument("--quick", action="store_true", help="4 channels a layer, 1 seed, 128 steps")
    args = p.parse_args()
    print(json.dumps(measure(args.data, model=args.model, quick=args.quick)))


if __name__ == "__main__":
    main()
