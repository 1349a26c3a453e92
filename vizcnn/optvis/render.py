"""The render loop: optimize an image so that an objective grows.

Why it is faster than lucent's ``render_vis`` for the same pictures:

* many channels at once: :func:`render_channels` gives each channel (and each
  diversity sample) its own batch element and takes one forward and one
  backward pass per step for all of them;
* the forward pass stops at the deepest layer the objective reads
  (:func:`vizcnn.hooks.capture` with ``stop=True``), with hooks on those
  layers only, instead of hooks on every module and the whole network;
* a channel of a conv or linear layer is computed from the layer's input with
  only the filter each image needs (:func:`~.objectives.channels_per_image`),
  so the layer's other channels cost nothing, forward or backward;
* the network's parameters are frozen while rendering, so the backward pass
  computes gradients for the image only;
* the robustness transforms are one batched affine warp per step with every
  random draw made up front (see :mod:`vizcnn.optvis.transforms`);
* everything runs on the model's device (the GPU when there is one).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Literal

import torch
from PIL import Image

from ..activations import channel_count
from ..cache import ResultCache, cache_key
from ..errors import expect, expect_channels, expect_int, VizcnnError
from ..progress import progress_bar
from ..hooks import capture, forward_to
from ..limits import activation_bytes, check_memory, check_seed
from ..models import Model
from ..draw.figure import PNGResult, image_grid, to_uint8
from . import param as param_mod
from .objectives import OUTPUT, Objective, channels_per_image
from .objectives import diversity as diversity_term
from .fastconv import space_to_depth
from .transforms import Transforms, standard

__all__ = ["ENGINE_VERSION", "RenderResult", "render", "render_channels"]

#: Part of every cache key: bump it when a change to the engine changes the pictures.
ENGINE_VERSION = 3


@dataclass
class RenderResult(PNGResult):
    """Rendered images with what they show and how strongly.

    Attributes:
        images: ``(N, C, H, W)`` floats in [0, 1] on the CPU.
        labels: one caption per image.
        values: final objective per image (higher = more activation), measured
            on the untransformed image.
        channels: the channel each image shows (``None`` for free objectives).
        title: caption of the grid.
    """

    images: torch.Tensor
    labels: list[str]
    values: list[float]
    channels: list[int | None] = field(default_factory=list)
    title: str | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def image(self, i: int) -> Image.Image:
        """Image ``i`` as a PIL image (grey for one-channel models)."""
        return Image.fromarray(to_uint8(self.images[i], vmin=0.0, vmax=1.0))

    def to_image(self) -> Image.Image:
        """All images in a labelled grid (small images scaled up, pixelated)."""
        size = self.images.shape[-1]
        tile = size * max(1, round(112 / size)) if size < 112 else size
        labels = [f"{lab} ({v:.2f})" for lab, v in zip(self.labels, self.values)]
        return image_grid([self.image(i) for i in range(len(self))], labels, tile_size=tile, title=self.title)


#: Pixels per step (batch x side^2) up to which a CPU render runs on one thread.
_SMALL_WORK = 32 * 32 * 32


@contextmanager
def _backend(work: int, device: torch.device):
    """Settings that suit a render: one CPU thread for small (MNIST-sized) renders, where
    threads cost more than they save; on a GPU, cuDNN autotuning (the input size never
    changes) and TF32 matrix products."""
    threads = torch.get_num_threads()
    bench, tf32 = torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32
    try:
        if device.type == "cpu" and work <= _SMALL_WORK:
            torch.set_num_threads(1)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32 = bench, tf32


@contextmanager
def _frozen(net: torch.nn.Module):
    """Switch off gradients for the network's parameters; restore them afterwards."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _check_size(
    model, size: int | None, batch: int = 1, seed: int = 0, steps: int = 1, modules: dict[str, torch.nn.Module] | None = None
) -> int:
    """The image side to render, after checking the arguments, that ``batch`` images of it fit in memory,
    and that the network runs at that size up to ``modules`` (the layers the objective reads; all of it for none)."""
    expect(model, Model, "model", "a Model from vizcnn.load_model(...)")
    if size is not None:
        expect_int(size, "size", 0)
    expect_int(batch, "batch", 1)
    expect_int(steps, "steps", 0)  # 0: the starting images, measured
    check_seed(seed)
    given = size is not None and size > 0
    size = size or (model.input.size if model.input.channels == 1 else min(model.input.size, 128))
    if size < 8:
        raise VizcnnError(f"image size {size} is too small: use --size 8 or more.")
    # the network's working set scales with the pixels; forward, backward, transforms and Adam hold ~6 copies
    scale = (size / model.input.size) ** 2
    need = 6 * batch * scale * activation_bytes(model.net, model.input.shape, model.device) + 64 * batch * size * size
    check_memory(need, f"rendering {batch} image(s) of {size}x{size}", "use a smaller --size, fewer channels or a smaller --diversity", model.device)
    if size != model.input.size and not _runs_at(model, size, modules or {}):
        if given:  # e.g. a ViT, or a linear layer after a flatten: only the model's own size fits
            raise VizcnnError(
                f"{model.name} cannot take {size}x{size} images up to the layers this objective reads, only its own "
                f"{model.input.size}x{model.input.size}: use size {model.input.size} (--size {model.input.size}, or leave --size out)."
            )
        size = model.input.size
    return int(size)


def _runs_at(model, size: int, modules: dict[str, torch.nn.Module]) -> bool:
    """Whether one ``size`` x ``size`` image passes through the network up to ``modules`` (early-stopped)."""
    x = torch.zeros(1, model.input.channels, size, size, device=model.device)
    try:
        with torch.no_grad():
            if modules:
                forward_to(model.net, modules, x)
            else:
                model.net(x)
    except Exception:  # noqa: BLE001 - whatever the network raises for a size it cannot take
        return False
    return True


def _modules(model, obj: Objective) -> dict[str, torch.nn.Module]:
    return {name: model.layer(name).module for name in obj.layers if name != OUTPUT}


def _shortcut(model, obj: Objective, measure: Objective):
    """``obj.via_input`` for its one layer, when it applies (the reported values are the same objective)."""
    if measure is not obj or obj.via_input is None or len(obj.layers) != 1 or obj.layers[0] == OUTPUT:
        return None
    return obj.via_input(model.layer(obj.layers[0]).module)


def _activations(model, modules, stop: bool, x: torch.Tensor, cap) -> dict[str, torch.Tensor]:
    cap.clear()
    try:
        out = cap.run(x)
    except RuntimeError as exc:
        if x.shape[-1] == model.input.size:
            raise
        raise VizcnnError(
            f"{model.name} does not run on {x.shape[-1]} px images up to the layer(s) asked for ({exc}); "
            f"use size {model.input.size} (--size {model.input.size})."
        ) from None
    acts = dict(cap)
    if not stop:
        acts[OUTPUT] = out
    missing = [n for n in modules if n not in acts]
    if missing:
        raise VizcnnError(f"layer(s) {', '.join(missing)} did not run in {model.name}'s forward pass.")
    return acts


def _optimize(
    model,
    obj: Objective,
    measure: Objective,
    *,
    batch: int,
    steps: int,
    size: int,
    seed: int,
    param: str,
    transforms: Transforms | None,
    lr: float,
    progress: bool,
    precision: str,
) -> tuple[torch.Tensor, list[float]]:
    """Run the optimization; return the final images ``(N, C, S, S)`` on CPU and ``measure`` per image."""
    if steps < 0:
        raise VizcnnError(f"steps must be 0 or more, not {steps}.")
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be 'float32' or 'bfloat16', not {precision!r}.")
    device = model.device
    gen = torch.Generator().manual_seed(int(seed))
    params, image_f = param_mod.make(param, (batch, model.input.channels, size, size), generator=gen, device=device)
    mean = torch.tensor(model.input.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(model.input.std, device=device).view(1, -1, 1, 1)
    modules = {**_modules(model, obj), **_modules(model, measure)}
    stop = OUTPUT not in obj.layers + measure.layers
    shortcut = _shortcut(model, obj, measure)
    if shortcut is not None:  # values straight from the layer's input, with only the filters needed
        name = obj.layers[0]
        obj = measure = Objective(lambda acts, _m: shortcut(acts[name]), [name], obj.description)
    plan = transforms.plan(steps, batch, size, gen, device) if transforms is not None else None
    optimizer = torch.optim.Adam(params, lr=lr)

    bar = progress_bar(total=steps, disable=not progress, desc=obj.description[:60], leave=False)
    backend = _backend(batch * size * size, device)
    hooks = capture(model.net, modules, stop=stop, inputs=shortcut is not None)
    # CPU only: measured there (oneDNN's strided-conv input gradient); GPUs keep their own kernels
    fast = space_to_depth(model.net) if device.type == "cpu" else nullcontext()
    with backend, _frozen(model.net), fast, hooks as cap:
        try:
            for step in range(steps):
                optimizer.zero_grad(set_to_none=True)
                x = image_f()
                if plan is not None:
                    x = plan.apply(x, step, fill=mean)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                    values = obj(_activations(model, modules, stop, (x - mean) / std, cap), model).float()
                (-values.sum()).backward()
                optimizer.step()
                if progress and (step % 8 == 0 or step == steps - 1):  # .item() waits for a GPU
                    bar.set_postfix(objective=f"{values.detach().mean().item():.3f}", refresh=False)
                bar.update()
        finally:
            bar.close()
        with torch.no_grad():
            final = image_f()
            values = measure(_activations(model, modules, stop, (final - mean) / std, cap), model)
    return final.detach().cpu(), [float(v) for v in values.cpu()]


def render(
    model,
    obj: Objective,
    *,
    batch: int = 1,
    steps: int = 256,
    size: int | None = None,
    seed: int = 0,
    param: param_mod.Kind | None = None,
    transforms: Literal["standard"] | Transforms | None = "standard",
    lr: float = 0.05,
    progress: bool = True,
    precision: Literal["float32", "bfloat16"] = "float32",
    measure: Objective | None = None,
    labels: Sequence[str] | None = None,
) -> RenderResult:
    """Optimize ``batch`` images of ``size`` px to maximize ``obj`` on ``model``.

    Args:
        model: a :class:`vizcnn.Model`.
        obj: the objective (sum over the batch is maximized).
        batch: number of images optimized together.
        steps: Adam steps.
        size: image side; default the model's input size for one-channel
            models, else ``min(input size, 128)``.
        seed: same seed, same images (bitwise on the CPU).
        param: ``fourier`` (decorrelated Fourier space), ``pixel`` or
            ``prior`` (latent codes of a generator trained on MNIST, for
            1x28x28 models); default :meth:`Model.default_param` for the
            objective's layers (``prior`` for the MNIST models' class logits).
        transforms: ``"standard"`` (lucid's, scaled to ``size``), a
            :class:`Transforms`, or ``None``.
        lr: Adam learning rate (lucid's 0.05).
        progress: show a tqdm bar with the current objective.
        precision: ``bfloat16`` runs the network's forward and backward passes
            in bfloat16 (autocast): faster on CPUs with bfloat16 instructions
            and on GPUs, slightly different pictures. The image, the optimizer
            and the reported values stay float32.
        measure: objective whose per-image value is reported (default ``obj``).
        labels: captions (default ``obj``'s description and the batch index).
    """
    expect(obj, Objective, "obj", "an objective such as optvis.channel('conv3', 5)")
    size = _check_size(model, size, batch, seed, steps, _modules(model, obj))
    if transforms == "standard":
        transforms = standard(size)
    elif transforms is not None and not isinstance(transforms, Transforms):
        raise ValueError(f"transforms must be 'standard', a Transforms or None, not {transforms!r}.")
    measure = measure or obj
    param = param or model.default_param(obj.layers)
    images, values = _optimize(
        model, obj, measure, batch=batch, steps=steps, size=size, seed=seed, param=param,
        transforms=transforms, lr=lr, progress=progress, precision=precision,
    )  # fmt: skip
    labels = list(labels) if labels is not None else [obj.description if batch == 1 else f"#{i}" for i in range(batch)]
    return RenderResult(images, labels, values, [None] * batch, title=f"{model.name}: {obj.description}")


def render_channels(
    model,
    layer: str,
    channels: int | Sequence[int],
    *,
    diversity: int = 0,
    steps: int = 256,
    size: int | None = None,
    seed: int = 0,
    cache: ResultCache | None = None,
    progress: bool = True,
    **kw,
) -> RenderResult:
    """Render channels of ``layer``: one batch element per channel, one pass per step for all.

    With ``diversity=D > 0`` each channel gets ``D`` images pushed apart by
    lucid's diversity term (weight 100 over the channel's group). With a
    ``cache``, each channel's image and value are stored under a key of model,
    weights, layer, channel and settings, and later calls only render what is
    missing. ``kw`` goes to :func:`render` (``param``, ``transforms``, ``lr``).
    """
    expect(model, Model, "model", "a Model from vizcnn.load_model(...)")
    expect(layer, (str, torch.nn.Module), "layer", "a layer name such as 'conv3', a module path or a module")
    channels = [expect_int(channels, "channels", 0)] if not isinstance(channels, Iterable) else expect_channels(channels)
    expect_int(diversity, "diversity", 0)
    resolved = model.layer(layer)
    count = channel_count(model, resolved)
    bad = [c for c in channels if not 0 <= c < count]
    if bad:
        raise VizcnnError(
            f"channel {bad[0]} is out of range: layer {layer} has {count} channels (0-{count - 1})."
        )
    reps = max(1, int(diversity))
    size = _check_size(model, size, len(dict.fromkeys(channels)) * reps, seed, steps, {layer: resolved.module})
    kw["param"] = kw.get("param") or model.default_param([layer])
    # every setting that changes the pictures, defaults filled in so that equal calls share keys
    settings = dict(
        engine=ENGINE_VERSION, steps=steps, size=size, seed=seed, diversity=diversity, param=param_mod.fingerprint(kw["param"]),
        transforms=repr(kw.get("transforms", "standard")), lr=kw.get("lr", 0.05),
        precision=kw.get("precision", "float32"),
    )  # fmt: skip
    keys = {
        c: cache_key(model=model.name, weights=model.weights_hash, layer=resolved.path, channel=c, **settings)
        for c in channels
    }
    done: dict[int, tuple[torch.Tensor, list[float]]] = {}
    if cache is not None:
        for c in channels:
            blob = cache.get("render", keys[c], ".pt")
            if blob is not None:
                entry = torch.load(io.BytesIO(blob), weights_only=True)
                done[c] = (entry["images"], entry["values"].tolist())
    todo = [c for c in dict.fromkeys(channels) if c not in done]
    if todo:
        rows = [c for c in todo for _ in range(reps)]
        measure = channels_per_image(layer, rows)
        obj = measure - 100.0 * diversity_term(layer, groups=len(todo)) if diversity > 0 else measure
        res = render(model, obj, batch=len(rows), steps=steps, size=size, seed=seed, progress=progress,
                     measure=measure, **kw)  # fmt: skip
        for i, c in enumerate(todo):
            images = res.images[i * reps : (i + 1) * reps]
            values = res.values[i * reps : (i + 1) * reps]
            done[c] = (images, values)
            if cache is not None:
                buf = io.BytesIO()
                torch.save({"images": images.clone(), "values": torch.tensor(values, dtype=torch.float64)}, buf)
                cache.put("render", keys[c], buf.getvalue(), ".pt")
    images = torch.cat([done[c][0] for c in channels])
    values = [v for c in channels for v in done[c][1]]
    name = resolved.name
    labels = [f"{name}:{c}" for c in channels for _ in range(reps)]
    return RenderResult(
        images, labels, values, [c for c in channels for _ in range(reps)], title=f"{model.name} {name}"
    )
