#!/usr/bin/env python
"""Train the MNIST image prior (the decoder of a small VAE), reproducibly, on the CPU in minutes.

Recipe: a VAE (Kingma & Welling 2014) with a 16-dimensional latent, a
two-convolution encoder and the decoder of :class:`vizcnn.optvis.prior.Decoder`;
Bernoulli pixel likelihood (binary cross entropy on the grey levels) plus the KL
divergence to a standard normal, Adam with a cosine learning rate schedule.
Seeded: the same command gives the same weights on the same machine.

    python scripts/train_prior.py --data ../shared/data/mnist
    python scripts/train_prior.py --epochs 40 --seed 1 --threads 2

Writes ``vizcnn/models/weights/mnist-prior.safetensors`` (the decoder only,
with ``radius``: the median norm of the training digits' codes, the norm that
renders keep their latents at) and ``mnist-prior.json``
(the recipe, the test-set loss and the file's sha256), atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vizcnn._io import save_with, write_text  # noqa: E402
from vizcnn.data import mnist  # noqa: E402
from vizcnn.models import load_model  # noqa: E402
from vizcnn.optvis.prior import ZDIM, Decoder  # noqa: E402


class Encoder(nn.Module):
    """Digits ``(N, 1, 28, 28)`` -> mean and log-variance of the code ``(N, ZDIM)`` each."""

    def __init__(self, zdim: int = ZDIM, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),  # 7x7
            nn.Flatten(),
        )  # fmt: skip
        self.fc = nn.Linear(2 * width * 7 * 7, 2 * zdim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.fc(self.conv(x)).chunk(2, dim=1)
        return mu, logvar


def vae_loss(enc: Encoder, dec: Decoder, x: torch.Tensor, gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Negative ELBO per digit (nats) and its reconstruction part; ``gen=None`` decodes the means."""
    mu, logvar = enc(x)
    z = mu if gen is None else mu + torch.randn(mu.shape, generator=gen) * (0.5 * logvar).exp()
    rec = F.binary_cross_entropy_with_logits(dec.logits(z), x, reduction="sum") / len(x)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
    return rec + kl, rec


@torch.no_grad()
def evaluate(enc: Encoder, dec: Decoder, x: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
    enc.eval(), dec.eval()
    elbo = recon = 0.0
    for i in range(0, len(x), 1000):
        e, r = vae_loss(enc, dec, x[i : i + 1000], gen)
        n = len(x[i : i + 1000])
        elbo, recon = elbo + e.item() * n, recon + r.item() * n
    return {"neg_elbo_nats": round(elbo / len(x), 2), "reconstruction_nats": round(recon / len(x), 2)}


@torch.no_grad()
def sample_quality(dec: Decoder, gen: torch.Generator, n: int = 1000) -> float:
    """Share of ``n`` prior samples (z ~ N(0, I)) that the bundled LeNet reads with p > 0.9."""
    lenet = load_model("lenet", device="cpu")
    images = dec(torch.randn((n, ZDIM), generator=gen))
    p = lenet(lenet.input.normalize(images)).softmax(1).amax(1)
    return round((p > 0.9).float().mean().item(), 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"), help="folder of MNIST IDX files")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: faster than 2 on a busy machine)")
    p.add_argument("--out", default=None, help="default: vizcnn/models/weights/mnist-prior.safetensors")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    train, test = mnist(args.data, "train"), mnist(args.data, "test")
    xtr, _ = train.tensors()
    xte, _ = test.tensors()
    enc, dec = Encoder(), Decoder()
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=args.lr)
    steps_per_epoch = math.ceil(len(xtr) / args.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * steps_per_epoch)
    start = time.time()
    for epoch in range(args.epochs):
        enc.train(), dec.train()
        order = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            loss, _ = vae_loss(enc, dec, xtr[idx], gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs}: train -ELBO {total / len(xtr):.2f} nats", flush=True)
    train_seconds = round(time.time() - start, 1)
    with torch.no_grad():  # the typical norm of the codes the decoder learned from: one draw per digit
        enc.eval()
        codes = [enc(xtr[i : i + 1000]) for i in range(0, len(xtr), 1000)]
        norms = torch.cat([(mu + torch.randn(mu.shape, generator=gen) * (0.5 * lv).exp()).norm(dim=1) for mu, lv in codes])
        dec.radius.fill_(norms.median().item())
    metrics = evaluate(enc, dec, xte, torch.Generator().manual_seed(args.seed))
    out = Path(args.out or ROOT / "vizcnn" / "models" / "weights" / "mnist-prior.safetensors")
    state = {k: v.detach().contiguous() for k, v in dec.state_dict().items()}
    save_with(out, lambda tmp: save_file(state, str(tmp)))
    recipe = {
        "model": "mnist-prior",
        "what": "decoder of a VAE, z (16) -> 1x28x28 digits in [0, 1]; vizcnn.optvis.prior.Decoder",
        "data": f"{len(xtr)} training digits from {os.path.relpath(train.source, ROOT)}",
        "test_set": f"{len(xte)} digits from {os.path.relpath(test.source, ROOT)}",
        "test": metrics,
        "latent_dims": ZDIM,
        "radius": round(dec.radius.item(), 4),
        "radius_rule": "median norm of the training digits' codes (one draw from each posterior); renders keep |z| at it",
        "prior_samples_lenet_confident": sample_quality(dec, torch.Generator().manual_seed(args.seed)),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": "Adam",
        "schedule": f"CosineAnnealingLR(lr={args.lr})",
        "loss": "binary cross entropy (sum over pixels) + KL to N(0, I), mean over the batch",
        "seed": args.seed,
        "train_seconds": train_seconds,
        "torch": torch.__version__,
        "command": " ".join(["python scripts/train_prior.py", *sys.argv[1:]]),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "bytes": out.stat().st_size,
    }
    write_text(out.with_suffix(".json"), json.dumps(recipe, indent=2) + "\n")
    print(json.dumps(metrics), f"radius {recipe['radius']}; wrote {out} ({recipe['bytes']} bytes)")


if __name__ == "__main__":
    main()
