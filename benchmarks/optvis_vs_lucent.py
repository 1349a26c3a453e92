"""Feature visualization speed: lucent's ``render_vis`` against ``vizcnn.optvis``, same process.

    python benchmarks/optvis_vs_lucent.py                       # full: 64 steps, 128 px, 8 channels
    python benchmarks/optvis_vs_lucent.py --steps 16 --size 96 --channels 4   # quick
    python benchmarks/optvis_vs_lucent.py --ttq --steps 256 --channels 2 --lucent batched   # time-to-quality

AlexNet with random weights (the cost does not depend on the weights), layers
conv1..conv5, the first CHANNELS channels of each. Both sides use the same
number of Adam steps (lr 0.05), the same image size, lucid's decorrelated
Fourier parameterization and lucid's standard transforms (pad 12, jitter 8,
scale 0.9-1.1, rotate -10..10 degrees, jitter 4), and the same objective
(the channel's mean activation).

lucent is used the way its README shows: one ``render_vis(model,
"layer:channel")`` call per channel, with ``param.image(size)`` and its
standard transforms. Two settings keep the comparison on the safe side for
lucent: ``fixed_image_size=size`` (otherwise lucent upsamples every image
below 224 px to 224 px, four times the pixels of a 112 px render), and the
hooks ``render_vis`` leaves on every module are removed after each call (else
every later call pays for them). ``--lucent batched`` instead renders all the
channels of a layer in one lucent call with a batch of CHANNELS images and the
sum of ``channel(layer, c, batch=i)``, lucent's fastest use.

The final objective of each image is measured the same way for both: the
channel's mean activation on the final image, without transforms. The last
line is one JSON object: geometric-mean speed-up over the layers, and
objective_ratio = vizcnn's mean final objective / lucent's. With random
weights and few steps the objectives stay near zero and that ratio is noisy,
so gain_ratio compares the gains over a plain grey image (where both
optimizations start from) as well. The CPU-time
speed-up (process time, all threads) is printed too: on a machine shared with
other jobs it is steadier than the wall-clock one.

``--ttq`` measures time-to-quality instead: lucent renders each layer's
channels for ``--steps`` steps (256); vizcnn renders them, with lucent's
objective and transforms but its own default learning rate (0.2 from 64 px
up, where lucid and lucent use 0.05; ``--lr`` sets another), with each step
count of ``--ladder`` in turn (each a full render from scratch) until every
channel reaches the final objective lucent reached for it. Per channel the ratio is
lucent's time per channel over the time per channel of vizcnn's first render
that reached it; the JSON line has the geometric mean over all channels and
how many reached it at all (a channel that never does counts with the
longest render's time).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch

import vizcnn
from vizcnn import optvis
from vizcnn.hooks import forward_to

#: lucent's Adam learning rate (lucid's); vizcnn uses it too in the equal-steps comparison.
LUCENT_LR = 0.05


def final_objective(model, layer: str, channels: list[int], images: torch.Tensor) -> list[float]:
    """Mean activation of ``channels[i]`` on image ``i`` (no transforms)."""
    x = model.input.normalize(images.to(model.device))
    with torch.no_grad():
        acts = forward_to(model.net, {"l": model.layer(layer).module}, x)["l"]
    return [float(acts[i, c].mean()) for i, c in enumerate(channels)]


def _clear_hooks(net: torch.nn.Module) -> None:
    for m in net.modules():
        m._forward_hooks.clear()


def run_lucent(model, layer: str, channels: list[int], steps: int, size: int, seed: int, batched: bool) -> torch.Tensor:
    """lucent's render_vis; returns the final images ``(N, 3, size, size)``."""
    from lucent.optvis import objectives, param, render, transform

    name = model.layer(layer).path.replace(".", "_")
    common = dict(
        transforms=transform.standard_transforms, thresholds=(steps,), show_image=False, progress=False,
        fixed_image_size=size,
    )  # fmt: skip
    torch.manual_seed(seed)
    np.random.seed(seed)
    images = []
    try:
        if batched:
            obj = objectives.Objective.sum([objectives.channel(name, c, batch=i) for i, c in enumerate(channels)])
            out = render.render_vis(model.net, obj, param_f=lambda: param.image(size, batch=len(channels)), **common)
            images.append(torch.from_numpy(out[-1]).permute(0, 3, 1, 2))
        else:
            for c in channels:
                out = render.render_vis(model.net, f"{name}:{c}", param_f=lambda: param.image(size), **common)
                _clear_hooks(model.net)
                images.append(torch.from_numpy(out[-1]).permute(0, 3, 1, 2))
    finally:
        _clear_hooks(model.net)
    return torch.cat(images)


def run_vizcnn(
    model, layer: str, channels: list[int], steps: int, size: int, seed: int, precision: str = "float32",
    lr: float | None = LUCENT_LR,
) -> torch.Tensor:
    """vizcnn with lucent's objective and transforms (the channel mean, lucid's standard chain), not its
    per-layer defaults (conv1's default is its centre neuron without transforms); ``lr=None``: its default
    learning rate for the size (0.2 from 64 px up)."""
    res = optvis.render_channels(
        model, layer, channels, steps=steps, size=size, seed=seed, progress=False, precision=precision,
        position="mean", transforms=optvis.standard(size), lr=lr,
    )  # fmt: skip
    return res.images


def time_to_quality(model, layer: str, channels: list[int], size: int, seed: int, targets: list[float],
                    ladder: list[int], lr: float | None) -> list[dict]:
    """Per channel: the fewest steps of the ladder whose final objective reaches ``targets[i]`` and the
    time of that render per channel (all channels run together, so each gets its share)."""
    found: list[dict | None] = [None] * len(channels)
    for steps in ladder:
        t0 = time.perf_counter()
        images = run_vizcnn(model, layer, channels, steps, size, seed, lr=lr)
        per_channel = (time.perf_counter() - t0) / len(channels)
        values = final_objective(model, layer, channels, images)
        for i, v in enumerate(values):
            if found[i] is None and v >= targets[i]:
                found[i] = {"steps": steps, "s": per_channel, "reached": True}
        last = {"steps": steps, "s": per_channel, "reached": False}
        if all(found):
            break
    return [f or last for f in found]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--channels", type=int, default=8, help="first N channels of each layer")
    p.add_argument("--layers", default="conv1,conv2,conv3,conv4,conv5")
    p.add_argument("--lucent", choices=["per-channel", "batched"], default="per-channel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--precision", choices=["float32", "bfloat16"], default="float32",
        help="vizcnn's network precision (lucent always runs float32; bfloat16 is not an equal comparison)",
    )  # fmt: skip
    p.add_argument("--ttq", action="store_true",
                   help="time-to-quality instead: lucent runs --steps (256) steps, vizcnn the fewest ladder steps that reach it")
    p.add_argument("--ladder", default="16,24,32,48,64,96,128,192,256", help="vizcnn step counts tried in time-to-quality")
    p.add_argument("--lr", type=float, help="vizcnn's learning rate in --ttq (default: its own for the size, 0.2 at 128 px; "
                   "lucent: 0.05); the equal-steps comparison always uses lucent's 0.05")
    args = p.parse_args(argv)
    if args.ttq:
        return main_ttq(args)

    model = vizcnn.load_model("alexnet", "random")
    channels = list(range(args.channels))
    print(
        f"AlexNet (random weights) on {model.device}, {torch.get_num_threads()} threads; {args.channels} channels "
        f"per layer, {args.steps} steps, {args.size} px, fourier param, standard transforms; lucent {args.lucent}; "
        f"vizcnn {args.precision}"
    )
    # warm up both code paths (first calls allocate and load kernels)
    run_lucent(model, "conv1", channels[:1], 2, args.size, 0, args.lucent == "batched")
    run_vizcnn(model, "conv1", channels[:1], 2, args.size, 0)

    print(
        f"{'layer':<6} {'lucent s':>9} {'vizcnn s':>9} {'speed-up':>9} {'cpu-time speed-up':>18} "
        f"{'lucent obj':>11} {'vizcnn obj':>11}"
    )
    rows = []
    for layer in args.layers.split(","):
        t0, c0 = time.perf_counter(), time.process_time()
        lucent_images = run_lucent(model, layer, channels, args.steps, args.size, args.seed, args.lucent == "batched")
        t1, c1 = time.perf_counter(), time.process_time()
        ours = run_vizcnn(model, layer, channels, args.steps, args.size, args.seed, args.precision)
        t2, c2 = time.perf_counter(), time.process_time()
        lo = float(np.mean(final_objective(model, layer, channels, lucent_images)))
        vo = float(np.mean(final_objective(model, layer, channels, ours)))
        grey = float(np.mean(final_objective(model, layer, channels, torch.full_like(ours, 0.5))))
        rows.append(
            {"layer": layer, "lucent_s": t1 - t0, "vizcnn_s": t2 - t1, "lucent_cpu_s": c1 - c0, "vizcnn_cpu_s": c2 - c1,
             "lucent_obj": lo, "vizcnn_obj": vo, "grey_obj": grey}
        )  # fmt: skip
        print(
            f"{layer:<6} {t1 - t0:9.2f} {t2 - t1:9.2f} {(t1 - t0) / (t2 - t1):8.2f}x "
            f"{(c1 - c0) / (c2 - c1):17.2f}x {lo:11.3f} {vo:11.3f}"
        )
        sys.stdout.flush()
    geomean = lambda xs: round(math.exp(sum(map(math.log, xs)) / len(xs)), 3)
    result = {
        "geomean_speedup": geomean([r["lucent_s"] / r["vizcnn_s"] for r in rows]),
        "geomean_cpu_time_speedup": geomean([r["lucent_cpu_s"] / r["vizcnn_cpu_s"] for r in rows]),
        "objective_ratio": round(sum(r["vizcnn_obj"] for r in rows) / sum(r["lucent_obj"] for r in rows), 3),
        "gain_ratio": round(
            sum(r["vizcnn_obj"] - r["grey_obj"] for r in rows) / sum(r["lucent_obj"] - r["grey_obj"] for r in rows), 3
        ),
        "steps": args.steps, "size": args.size, "channels": args.channels, "lucent": args.lucent, "precision": args.precision,
        "device": str(model.device), "threads": torch.get_num_threads(),
        "layers": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
    }  # fmt: skip
    print(json.dumps(result))
    return 0


def main_ttq(args) -> int:
    """Time-to-quality: lucent's time for ``--steps`` steps per channel against vizcnn's time to reach,
    channel by channel, the final objective lucent reached."""
    model = vizcnn.load_model("alexnet", "random")
    channels = list(range(args.channels))
    ladder = [int(s) for s in args.ladder.split(",")]
    print(
        f"time-to-quality: AlexNet (random weights), {torch.get_num_threads()} threads, {args.channels} channels per "
        f"layer, {args.size} px; lucent {args.lucent}, {args.steps} steps; vizcnn lr {args.lr or 'default'}, ladder {ladder}"
    )
    run_lucent(model, "conv1", channels[:1], 2, args.size, 0, args.lucent == "batched")
    run_vizcnn(model, "conv1", channels[:1], 2, args.size, 0)
    rows = []
    for layer in args.layers.split(","):
        t0 = time.perf_counter()
        lucent_images = run_lucent(model, layer, channels, args.steps, args.size, args.seed, args.lucent == "batched")
        lucent_s = (time.perf_counter() - t0) / len(channels)
        targets = final_objective(model, layer, channels, lucent_images)
        ours = time_to_quality(model, layer, channels, args.size, args.seed, targets, ladder, args.lr)
        for c, target, o in zip(channels, targets, ours):
            rows.append({"layer": layer, "channel": c, "lucent_obj": target, "lucent_s": lucent_s, "vizcnn_s": o["s"],
                         "vizcnn_steps": o["steps"], "reached": o["reached"], "ratio": lucent_s / o["s"]})  # fmt: skip
        print(f"{layer:<6} lucent {lucent_s:7.2f} s/channel; vizcnn steps " + ", ".join(
            f"{o['steps']}{'' if o['reached'] else '(not reached)'}" for o in ours) + " -> ratios " + ", ".join(
            f"{r['ratio']:.1f}x" for r in rows[-len(channels):]), flush=True)  # fmt: skip
    geomean = lambda xs: round(math.exp(sum(map(math.log, xs)) / len(xs)), 3)
    print(json.dumps({
        "time_to_quality_geomean": geomean([r["ratio"] for r in rows]),
        "reached": f"{sum(r['reached'] for r in rows)}/{len(rows)}", "lucent_steps": args.steps, "size": args.size,
        "channels": args.channels, "lucent": args.lucent, "lr": args.lr, "ladder": ladder, "threads": torch.get_num_threads(),
        "rows": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
