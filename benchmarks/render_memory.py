"""Peak memory of a render against ``render``'s estimate of it, model by model.

    PYTHONPATH=. python benchmarks/render_memory.py                     # the small cases (minutes)
    PYTHONPATH=. python benchmarks/render_memory.py --big               # plus the three largest torchvision models
    PYTHONPATH=. python benchmarks/render_memory.py --cases 'torchvision:resnet18,layer1,224,4' --steps 32

Each case runs in a fresh process: it loads the model (random weights),
notes the resident memory, resets the kernel's peak (``/proc/self/clear_refs``)
and renders ``batch`` channels for 2 steps (``--steps``) at ``size`` px, then reads the peak
(``VmHWM``). The baseline is that measured peak over the loaded model; the
table gives two estimates as ratios to it: ``old``, the one ``render`` used
before (six times every module's output over the whole network, plus 64 bytes
a pixel), and ``new``, :func:`vizcnn.optvis.render.render_bytes`, what it
checks now (it must stay above 1: the estimate is an upper bound). The memory
check itself is switched off in the child, so that a case the estimate would
refuse is still measured.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

#: model, layer ("last": the last Conv2d, the layer benchmarks/zoo_sweep.py renders), size, batch
SMALL = [
    ("mnist-cnn", "conv1", 28, 2),
    ("mnist-cnn", "conv3", 28, 8),
    ("mnist-cnn", "conv3", 160, 8),
    ("torchvision:resnet18", "last", 224, 1),
    ("torchvision:resnet18", "last", 128, 8),
    ("torchvision:resnet18", "layer1", 224, 4),
    ("torchvision:alexnet", "last", 224, 4),
    ("torchvision:vgg16", "last", 224, 1),
    ("torchvision:vgg16", "features.8", 128, 4),
    ("torchvision:efficientnet_b0", "last", 224, 2),
    ("torchvision:convnext_tiny", "last", 224, 1),
    ("torchvision:vit_b_16", "last", 224, 4),
    ("torchvision:vit_b_16", "encoder.layers.encoder_layer_11", 224, 1),
    ("torchvision:inception_v3", "last", 299, 1),
    ("torchvision:densenet121", "last", 224, 2),
]
BIG = [
    ("torchvision:efficientnet_b7", "features.0.0", 600, 1),
    ("torchvision:efficientnet_b7", "last", 600, 1),
    ("torchvision:regnet_y_128gf", "last", 384, 1),
    ("torchvision:vit_h_14", "last", 518, 1),
]


def _kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _case(name: str, layer: str, size: int, batch: int, steps: int) -> dict:
    """In the child process: one render, its peak and the estimates."""
    import torch

    import vizcnn
    from vizcnn.limits import activation_bytes
    from vizcnn.optvis import render_channels

    render_mod = importlib.import_module("vizcnn.optvis.render")  # the module, not the function of that name

    model = vizcnn.load_model(name, "random")
    if layer == "last":
        layer = [n for n, m in model.net.named_modules() if isinstance(m, torch.nn.Conv2d)][-1]
    render_mod.check_memory = lambda *_a, **_k: None  # measure the real peak even where the estimate refuses
    loaded = _kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    render_channels(model, layer, list(range(batch)), steps=steps, size=size, progress=False)
    peak = _kib("VmHWM") - loaded
    old = 6 * batch * (size / model.input.size) ** 2 * activation_bytes(model.net, model.input.shape, model.device) + 64 * batch * size * size
    new = render_mod.render_bytes(model, size, batch, {layer: model.layer(layer).module})
    return {"model": name, "layer": layer, "size": size, "batch": batch, "steps": steps, "peak": peak, "old": old, "new": new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also the three largest torchvision models (up to 4 GB each, minutes each)")
    parser.add_argument("--only-big", action="store_true", help="only the three largest models")
    parser.add_argument("--cases", help="model,layer,size,batch; several separated by ';'")
    parser.add_argument("--steps", type=int, default=2, help="render steps per case (default 2)")
    parser.add_argument("--json", metavar="FILE", help="append each case's numbers to FILE as JSON lines")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, layer, size, batch, steps = args.child.split(",")
        print(json.dumps(_case(name, layer, int(size), int(batch), int(steps))))
        return
    if args.cases:
        cases = [tuple(c.split(",")) for c in args.cases.split(";")]
    else:
        cases = (BIG if args.only_big else SMALL + (BIG if args.big else []))
    gib = 2**30
    print(f"{'model':<30} {'layer':<34} {'size':>4} {'batch':>5} {'peak GiB':>9} {'old GiB':>8} {'x peak':>7} {'new GiB':>8} {'x peak':>7}")
    for name, layer, size, batch in cases:
        out = subprocess.run(
            [sys.executable, __file__, "--child", f"{name},{layer},{size},{batch},{args.steps}"],
            capture_output=True, text=True, env={**os.environ, "VIZCNN_OFFLINE": "1"},
        )  # fmt: skip
        if out.returncode != 0:
            print(f"{name:<30} {layer:<34} failed: {' '.join(out.stderr.split()[-40:])}", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{name:<30} {r['layer'][:34]:<34} {size:>4} {batch:>5} {r['peak'] / gib:9.3f} {r['old'] / gib:8.3f} "
            f"{r['old'] / r['peak']:7.2f} {r['new'] / gib:8.3f} {r['new'] / r['peak']:7.2f}", flush=True,
        )  # fmt: skip
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
