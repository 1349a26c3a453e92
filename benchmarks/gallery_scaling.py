"""Gallery build time with 1 and 2 local workers and on Ray's local runtime, plus a ResNet-50 estimate.

    python benchmarks/gallery_scaling.py            # full: every channel of mnist-cnn's 4 conv layers
    python benchmarks/gallery_scaling.py --quick    # smoke run: 8 channels, few steps (seconds)

The same gallery (feature visualizations and dataset examples of mnist-cnn,
the settings of galleries/mnist.toml) is built three times, each into a
fresh output and cache folder: the local executor in-process (1 worker,
torch's default threads), the local executor with a pool of 2 worker
processes, and the Ray executor on a local runtime with 2 CPUs. It prints
each build's time, the speed-up against 1 worker and the cost per channel;
Ray's runtime start is timed apart from the build.

Then it measures one optimization step of ResNet-50 (random weights) at its
deepest conv layer at the alexnet gallery's settings and estimates, on
paper, the time and machines for a feature-visualization gallery of every
conv channel of ResNet-50. The last line is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

FULL = {"layers": '["conv1", "conv2", "conv3", "conv4"]', "channels": "all", "steps": 64, "diversity": 2, "batch": 16}
QUICK = {"layers": '["conv1"]', "channels": "0-7", "steps": 4, "diversity": 1, "batch": 2}

SPEC = """title = "scaling benchmark"

[render]
steps = {steps}
size = 28
diversity = {diversity}
examples = 8
data = "sample"
batch = {batch}

[[models]]
name = "mnist-cnn"
views = ["features", "examples"]
channels = "{channels}"
layers = {layers}
"""


def build(spec: Path, executor_name: str, jobs: int) -> dict:
    """One build into fresh folders; returns its wall time and counts."""
    from vizcnn.gallery import build_gallery, get_executor

    executor = get_executor(executor_name, jobs)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        try:
            report = build_gallery(spec, out, executor=executor, progress=False)
        finally:
            executor.close()
        seconds = time.perf_counter() - start
    return {"executor": executor_name, "jobs": jobs, "seconds": seconds, "channels": report.rendered,
            "units": report.units, "pages": report.pages}  # fmt: skip


def ray_build(spec: Path, jobs: int) -> dict:
    """A Ray build on a local runtime started beforehand, so start-up and build are timed apart."""
    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=jobs, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - start
    try:
        result = build(spec, "ray", jobs)
    finally:
        ray.shutdown()
    return {**result, "startup_seconds": startup}


def conv_channels(name: str) -> tuple[int, int]:
    """(conv layers, output channels over all of them) of a zoo model, from its layer table."""
    from vizcnn import load_model
    from vizcnn.models import layer_table

    model = load_model(name, "random", device="cpu")
    rows = [r for r in layer_table(model.net, model.input.shape, dict(model.aliases)) if r.type == "Conv2d"]
    return len(rows), sum(r.output[0] for r in rows)


def resnet50_step(size: int, batch: int, steps: int) -> float:
    """Seconds per optimization step per image of ResNet-50's last conv layer (random weights).

    Timed as the difference between a ``1 + steps`` and a 1-step render
    (the faster of two tries each, after an untimed warm-up), so set-up costs
    cancel out and other load on the machine counts less.
    """
    from vizcnn import load_model
    from vizcnn.optvis import render_channels

    model = load_model("torchvision:resnet50", "random")
    layer = "layer4.2.conv3"

    def timed(n: int) -> float:
        start = time.perf_counter()
        render_channels(model, layer, list(range(batch)), steps=n, size=size, progress=False)
        return time.perf_counter() - start

    timed(1)
    one = min(timed(1), timed(1))
    more = min(timed(1 + steps), timed(1 + steps))
    return max(more - one, 1e-9) / (steps * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 channels of conv1, 4 steps")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel builds (default: 2)")
    parser.add_argument(
        "--resnet-steps", type=int, default=128, help="steps per channel in the estimate (alexnet.toml: 128)"
    )
    parser.add_argument("--resnet-size", type=int, default=128, help="render size in the estimate (alexnet.toml: 128)")
    parser.add_argument("--hours", type=float, default=1.0, help="target wall time of the estimated ResNet-50 build")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "scaling.toml"
        spec.write_text(SPEC.format(**settings))
        runs = [build(spec, "local", 1), build(spec, "local", args.jobs)]
        try:
            runs.append(ray_build(spec, args.jobs))
        except ImportError:
            print("ray is not installed: pip install 'vizcnn[ray]'; skipping the Ray build")

    base = runs[0]["seconds"]
    channels = runs[0]["channels"] // 2  # each channel has a features and an examples entry
    print(f"mnist-cnn gallery: {channels} channels, {settings['steps']} steps, diversity {settings['diversity']}, "
          f"batch {settings['batch']}; {os.cpu_count()} CPUs on this machine")  # fmt: skip
    for r in runs:
        r["speedup"] = base / r["seconds"]
        r["seconds_per_channel"] = r["seconds"] / channels
        extra = f" (+ {r['startup_seconds']:.1f} s Ray start-up)" if "startup_seconds" in r else ""
        print(f"  {r['executor']:5} x{r['jobs']}: {r['seconds']:7.1f} s{extra}  speed-up {r['speedup']:.2f}x  "
              f"{r['seconds_per_channel'] * 1000:.0f} ms/channel (wall)")  # fmt: skip
    local = min(runs[:2], key=lambda r: r["seconds"])
    choice = "in-process" if local["jobs"] == 1 else f"a pool of {local['jobs']} processes"
    print(f"faster local choice here: {choice}")

    # -- ResNet-50, on paper -------------------------------------------------------------
    layers, total = conv_channels("torchvision:resnet50")
    fv_steps, size = args.resnet_steps, args.resnet_size
    measured = 64 if args.quick else size
    # conv cost grows with the pixels: a smaller quick measurement is scaled up to ``size``
    per_image_step = resnet50_step(measured, 2 if args.quick else 8, 8) * (size / measured) ** 2
    per_channel = per_image_step * fv_steps * (1 + 2)  # a main render and 2 diverse ones
    cpu_hours = total * per_channel / 3600  # this machine's throughput (all its cores on one render)
    machines = max(1, math.ceil(cpu_hours / args.hours))
    scaled = f" (measured at {measured} px, scaled by pixels)" if measured != size else ""
    print(
        f"ResNet-50: {layers} conv layers, {total} channels. One step of its deepest layer at {size} px{scaled}: "
        f"{per_image_step:.2f} s per image on this machine, so {per_channel / 60:.1f} min per channel "
        f"({fv_steps} steps, main + 2 diverse renders; an upper bound, shallower layers stop the forward pass early)."
    )
    print(f"  all channels: {cpu_hours:.0f} hours on one machine like this, "
          f"about {machines} such machines for a {args.hours:g}-hour build (feature visualizations only).")  # fmt: skip
    print(json.dumps({
        "quick": args.quick, "cpus": os.cpu_count(), "channels": channels, "runs": runs,
        "resnet50": {"conv_layers": layers, "channels": total, "size": size, "measured_size": measured, "steps": fv_steps,
                     "seconds_per_image_step": per_image_step, "seconds_per_channel": per_channel,
                     "machine_hours": cpu_hours, "machines_for_target": machines, "target_hours": args.hours},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
