#!/usr/bin/env python
"""Train the bundled MNIST CNNs, reproducibly, on the CPU in minutes.

Recipe: AdamW with a one-cycle learning rate schedule, label smoothing 0.05,
light random affine augmentation per batch (rotation, scale, shear, shift) so
the model copes with deformed digits. Seeded: the same command gives the same
weights on the same machine.

    python scripts/train_mnist.py --model mnist-cnn --data ../shared/data/mnist
    python scripts/train_mnist.py --model lenet --epochs 12

Writes ``vizcnn/models/weights/<model>.safetensors`` and ``<model>.json``
(the recipe and the measured test accuracy) atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vizcnn._io import save_with, write_text  # noqa: E402
from vizcnn.data import mnist  # noqa: E402
from vizcnn.models import get_spec  # noqa: E402


def augment(x: torch.Tensor, gen: torch.Generator, rotate: float, scale: float, shear: float, shift: float) -> torch.Tensor:
    """Random affine warp of a batch ``(N, 1, 28, 28)``: degrees, relative scale, shear, shift in pixels."""
    n = x.shape[0]

    def uniform(lo, hi):
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    a = uniform(-rotate, rotate) * math.pi / 180
    s = uniform(1 - scale, 1 + scale)
    sh = uniform(-shear, shear)
    t = uniform(-shift, shift) * 2 / 28, uniform(-shift, shift) * 2 / 28
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.stack(
        [torch.stack([cos, -sin + sh, t[0]], 1), torch.stack([sin, cos, t[1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def accuracy(net, x, y, spec) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(x), 1000):
        correct += (net(spec.input.normalize(x[i : i + 1000])).argmax(1) == y[i : i + 1000]).sum().item()
    return correct / len(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mnist-cnn", choices=["mnist-cnn", "lenet"])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"), help="folder of MNIST IDX files")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="default: vizcnn/models/weights/MODEL.safetensors")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    spec = get_spec(args.model)
    train, test = mnist(args.data, "train"), mnist(args.data, "test")
    xtr, ytr = train.tensors()
    xte, yte = test.tensors()
    net = spec.build(10)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(xtr) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch)
    aug = dict(rotate=15.0, scale=0.12, shear=0.15, shift=2.5)
    start = time.time()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(xtr), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", leave=False)
        for i in bar:
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            xb = augment(xtr[idx], gen, **aug)
            loss = F.cross_entropy(net(spec.input.normalize(xb)), ytr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {accuracy(net, xte, yte, spec):.4f}", flush=True)
    acc = accuracy(net, xte, yte, spec)
    out = Path(args.out or ROOT / "vizcnn" / "models" / "weights" / f"{args.model}.safetensors")
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_with(out, lambda tmp: save_file(state, str(tmp)))
    recipe = {
        "model": args.model,
        "data": f"{len(xtr)} training digits from {os.path.relpath(train.source, ROOT)}",
        "test_accuracy": acc,
        "test_set": f"{len(xte)} digits from {os.path.relpath(test.source, ROOT)}",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": "AdamW(weight_decay=5e-4)",
        "schedule": f"OneCycleLR(max_lr={args.lr})",
        "loss": "cross entropy, label smoothing 0.05",
        "augmentation": aug,
        "seed": args.seed,
        "train_seconds": round(time.time() - start, 1),
        "torch": torch.__version__,
        "command": "python scripts/train_mnist.py " + " ".join(sys.argv[1:]),
    }
    write_text(out.with_suffix(".json"), json.dumps(recipe, indent=2) + "\n")
    print(f"test accuracy {acc:.4f}; wrote {out}")


if __name__ == "__main__":
    main()
