"""Feature-visualization quality on the bundled MNIST models: vizcnn's defaults against lucent, same process.

    python benchmarks/optvis_quality.py --quick      # 8 channels per conv layer, a few minutes on 2 cores
    python benchmarks/optvis_quality.py              # every conv channel of mnist-cnn (176)
    python benchmarks/optvis_quality.py --param prior   # any parameterization vizcnn.optvis.param.make knows

Four figures, each for vizcnn (its per-layer defaults, ``render_channels``
as ``vizcnn render`` runs it) and for lucent (``render_vis`` with its
standard transforms, Fourier parameterization, lr 0.05, one batched call per
layer, ``fixed_image_size=28`` and the network's own normalization):

- ``render_beats_data``: share of mnist-cnn's conv channels (conv1..conv4)
  whose render reaches at least the objective of the best digit of the 10k
  MNIST test set. The objective is the layer's default (the centre neuron
  for conv1, which is affine in the image; the channel mean for conv2..conv4),
  the same for both renderers and for the digits, measured the same way
  (one forward pass on the final image, no transforms).
- ``failed_renders``: renders whose objective ends at or below that of a
  plain image (the higher of grey 0.5 and the mean digit pixel).
- ``class_transfer``: share of mnist-cnn's class renders (fc2, 10 classes x 3
  seeds) that lenet, a different network, classifies as the intended class
  with p > 0.5.
- ``conv1_filter_match``: share of conv1's 16 channels whose render, in the
  5x5 window where the channel responds most, correlates with the channel's
  filter at r >= 0.7 (the known answer: a first layer's best input under a
  pixel box is its filter's sign pattern).

Steps are the CLI's default (256) for both. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import vizcnn
from vizcnn import optvis
from vizcnn.data.mnist import mnist
from vizcnn.hooks import forward_to
from vizcnn.optvis.objectives import _at
from vizcnn.optvis.recipe import recipe_for

LAYERS = ("conv1", "conv2", "conv3", "conv4")
SEEDS = (0, 1, 2)


def objective_values(model, layer: str, position: str, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """``(N, C)``: every channel of ``layer`` at ``position`` on every image (no transforms)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            t = forward_to(model.net, {"l": model.layer(layer).module}, model.input.normalize(images[i : i + batch]))["l"]
            out.append(torch.stack([_at(t[:, c], position) for c in range(t.shape[1])], 1))
    return torch.cat(out)


def own_values(model, layer: str, position: str, channels: list[int], images: torch.Tensor) -> np.ndarray:
    """Image ``i``'s value for its own channel ``channels[i]``."""
    v = objective_values(model, layer, position, images)
    return np.array([float(v[i, c]) for i, c in enumerate(channels)])


def filter_match(model, images: torch.Tensor, channels: list[int]) -> list[float]:
    """Pearson r between conv1's filter and the render's window where the channel responds most."""
    conv = model.layer("conv1").module
    k, pad = conv.kernel_size[0], conv.padding[0]
    x = model.input.normalize(images)
    rs = []
    for i, c in enumerate(channels):
        w = conv.weight[c].detach()
        out = F.conv2d(x[i : i + 1], w[None], padding=pad)[0, 0]
        y, xx = divmod(int(out.argmax()), out.shape[1])
        window = F.pad(x[i : i + 1], (pad,) * 4)[0, :, y : y + k, xx : xx + k]
        rs.append(float(np.corrcoef(window.flatten().numpy(), w.flatten().numpy())[0, 1]))
    return rs


def lucent_render(model, layer: str, position: str, channels: list[int], steps: int, seed: int) -> torch.Tensor:
    """lucent's ``render_vis``: one batched call, channel (or centre neuron) ``channels[i]`` on image ``i``."""
    from lucent.optvis import objectives, param, render, transform

    name = model.layer(layer).path.replace(".", "_")
    make = objectives.neuron if position == "centre" else objectives.channel
    obj = objectives.Objective.sum([make(name, c, batch=i) for i, c in enumerate(channels)])
    mean, std = model.input.mean[0], model.input.std[0]
    transforms = [*transform.standard_transforms, lambda x: (x - mean) / std]
    torch.manual_seed(seed)
    np.random.seed(seed)
    try:
        out = render.render_vis(
            model.net, obj, param_f=lambda: param.image(28, batch=len(channels), channels=1), transforms=transforms,
            thresholds=(steps,), preprocess=False, show_image=False, progress=False, fixed_image_size=28,
        )  # fmt: skip
    finally:
        for m in model.net.modules():
            m._forward_hooks.clear()
    return torch.from_numpy(out[-1]).permute(0, 3, 1, 2).float()


def vizcnn_render(model, layer: str, channels: list[int], steps: int, seed: int, overrides: dict) -> torch.Tensor:
    res = optvis.render_channels(model, layer, channels, steps=steps, seed=seed, progress=False, **overrides)
    return res.images


def evaluate(render_fn, model, lenet, best: dict, plain: dict, channels: dict, steps: int) -> dict:
    """The four figures for one renderer; ``render_fn(layer, position, channels, seed) -> images``."""
    beats, failed, total, per_layer, rs = 0, 0, 0, {}, []
    t0 = time.perf_counter()
    for layer in LAYERS:
        position = recipe_for(model, layer, 28).position
        chans = channels[layer]
        images = render_fn(layer, position, chans, 0)
        v = own_values(model, layer, position, chans, images)
        b = best[layer][chans]
        layer_beats = int((v >= b).sum())
        layer_failed = int((v <= plain[layer][chans]).sum())
        beats, failed, total = beats + layer_beats, failed + layer_failed, total + len(chans)
        per_layer[layer] = {
            "channels": len(chans), "beats_data": layer_beats, "failed": layer_failed,
            "median_ratio_to_best_digit": round(float(np.median(v / b)), 3),
        }  # fmt: skip
        if layer == "conv1":
            rs = filter_match(model, images, chans)
        print(f"  {layer}: {per_layer[layer]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    correct = []
    for seed in SEEDS:
        images = render_fn("fc2", "mean", list(range(10)), seed)
        with torch.no_grad():
            p = torch.softmax(lenet(lenet.input.normalize(images)), 1)
        correct += [float(p[c, c]) > 0.5 for c in range(10)]
    return {
        "render_beats_data": round(beats / total, 3), "failed_renders": failed, "channels": total,
        "class_transfer": round(sum(correct) / len(correct), 3),
        "conv1_filter_match": round(sum(r >= 0.7 for r in rs) / len(rs), 3),
        "conv1_filter_match_count": f"{sum(r >= 0.7 for r in rs)}/{len(rs)}",
        "conv1_median_r": round(float(np.median(rs)), 3), "seconds": round(time.perf_counter() - t0, 1),
        "layers": per_layer,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the first 8 channels of conv2..conv4 (conv1: all 16)")
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--param", help="vizcnn's parameterization (default: the layer's default)")
    p.add_argument("--data", default="/work/shared/data/mnist", help="folder with the MNIST test set")
    p.add_argument("--no-lucent", action="store_true", help="vizcnn only")
    args = p.parse_args(argv)

    model, lenet = vizcnn.load_model("mnist-cnn"), vizcnn.load_model("lenet")
    digits, _ = mnist(args.data, "test").tensors()
    best, plain, channels = {}, {}, {}
    for layer in LAYERS:
        position = recipe_for(model, layer, 28).position
        best[layer] = objective_values(model, layer, position, digits).max(0).values.numpy()
        flat = torch.stack([torch.full((1, 28, 28), 0.5), torch.full((1, 28, 28), model.input.mean[0])])
        plain[layer] = objective_values(model, layer, position, flat).max(0).values.numpy()
        n = len(best[layer])
        channels[layer] = list(range(n if layer == "conv1" or not args.quick else min(8, n)))
    print(f"mnist-cnn, {len(digits)} test digits, {args.steps} steps, {torch.get_num_threads()} threads")
    overrides = {"param": args.param} if args.param else {}
    results = {"vizcnn": evaluate(
        lambda layer, pos, chans, seed: vizcnn_render(model, layer, chans, args.steps, seed, overrides),
        model, lenet, best, plain, channels, args.steps,
    )}  # fmt: skip
    if not args.no_lucent:
        results["lucent"] = evaluate(
            lambda layer, pos, chans, seed: lucent_render(model, layer, pos, chans, args.steps, seed),
            model, lenet, best, plain, channels, args.steps,
        )  # fmt: skip
    print(f"{'':<10} {'render_beats_data':>18} {'failed':>7} {'class_transfer':>15} {'conv1_filter_match':>19} {'s':>6}")
    for name, r in results.items():
        print(
            f"{name:<10} {r['render_beats_data']:18.3f} {r['failed_renders']:7d} {r['class_transfer']:15.3f} "
            f"{r['conv1_filter_match_count']:>19} {r['seconds']:6.1f}"
        )
    line = {
        **{k: v for k, v in results["vizcnn"].items() if k != "layers"},
        "param": args.param or "default", "steps": args.steps, "quick": args.quick,
        **{f"lucent_{k}": v for k, v in results.get("lucent", {}).items() if k != "layers"},
        "layers": {n: r["layers"] for n, r in results.items()},
    }  # fmt: skip
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
