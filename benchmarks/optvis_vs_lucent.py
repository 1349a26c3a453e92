"""Feature visualization speed: lucent's ``render_vis`` against ``vizcnn.optvis``, same process.

    python benchmarks/optvis_vs_lucent.py                       # full: 64 steps, 128 px, 8 channels
    python benchmarks/optvis_vs_lucent.py --steps 16 --size 96 --channels 4   # quick

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
    model, layer: str, channels: list[int], steps: int, size: int, seed: int, precision: str = "float32"
) -> torch.Tensor:
    res = optvis.render_channels(
        model, layer, channels, steps=steps, size=size, seed=seed, progress=False, precision=precision
    )
    return res.images


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
    args = p.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
