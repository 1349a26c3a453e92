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

import dataclasses
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
from ..hooks import capture, forward_to, frozen, saved_bytes
from ..limits import check_memory, check_seed
from ..models import Model
from ..draw.figure import PNGResult, image_grid, to_uint8
from . import param as param_mod
from .fastconv import space_to_depth
from .objectives import IMAGE, OUTPUT, Objective, channels_per_image
from .objectives import diversity as diversity_term
from .recipe import Recipe, recipe_for
from .transforms import Transforms, standard

__all__ = ["ENGINE_VERSION", "RenderResult", "render", "render_bytes", "render_channels", "render_size"]

#: Part of every cache key: bump it when a change to the engine changes the pictures.
ENGINE_VERSION = 5


@dataclass
class RenderResult(PNGResult):
    """Rendered images with what they show and how strongly.

    Attributes:
        images: ``(N, C, H, W)`` floats in [0, 1] on the CPU.
        labels: one caption per image.
        values: final objective per image (higher = more activation), measured
            on the untransformed image, without regularizers.
        channels: the channel each image shows (``None`` for free objectives).
        title: caption of the grid.
        baselines: per image, what the render must beat: the same objective on
            a plain image (the higher of grey 0.5 and the model's mean input),
            or, for the learned prior, which draws neither, on the best of its
            256 random digits. A render that ends at or below it failed, and
            every caption says so.
        objective: what each image maximizes, in words (``centre neuron (affine in the image)``).
        baseline: what ``baselines`` measured, in words (``a plain image``).
    """

    images: torch.Tensor
    labels: list[str]
    values: list[float]
    channels: list[int | None] = field(default_factory=list)
    title: str | None = None
    baselines: list[float] = field(default_factory=list)
    objective: str = ""
    baseline: str = param_mod.PLAIN_IMAGE

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def failed(self) -> list[bool]:
        """Per image: did the render end at or below the plain-image objective (no picture of the unit)?"""
        return [v <= b for v, b in zip(self.values, self.baselines)] + [False] * (len(self) - len(self.baselines))

    def image(self, i: int) -> Image.Image:
        """Image ``i`` as a PIL image (grey for one-channel models)."""
        return Image.fromarray(to_uint8(self.images[i], vmin=0.0, vmax=1.0))

    def to_image(self) -> Image.Image:
        """All images in a labelled grid (small images scaled up, pixelated)."""
        size = self.images.shape[-1]
        tile = size * max(1, round(112 / size)) if size < 112 else size
        title = self.title
        if any(self.failed):
            title = f"{title or ''}  [{sum(self.failed)} FAILED: at or below its baseline]".strip()
        return image_grid([self.image(i) for i in range(len(self))], self.captions, tile_size=tile, title=title)

    @property
    def captions(self) -> list[str]:
        """Per image: label, final value and the failure mark when it failed."""
        return [f"{lab} ({v:.2f}){FAILED_MARK if bad else ''}" for lab, v, bad in zip(self.labels, self.values, self.failed)]


#: Added to the caption of a failed render.
FAILED_MARK = " FAILED"


#: Where the image starts: near the model's mean input (what it sees as zero), lucid's grey, or per image
#: whichever of the two scores higher under the objective ("best": the render starts at its baseline).
STARTS = ("best", "mean", "grey")

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


def render_size(model, size: int | None) -> int:
    """The image side a render uses: ``size``, or the model's input size for one-channel
    models, else ``min(input size, 128)``."""
    size = size or (model.input.size if model.input.channels == 1 else min(model.input.size, 128))
    if size < 8:
        raise VizcnnError(f"image size {size} is too small: use --size 8 or more.")
    return int(size)


#: A render's peak memory over the loaded model, measured with ``benchmarks/render_memory.py`` on the CPU
#: (12 zoo and torchvision models, 28 to 600 px, 1 to 8 images, 2 steps; 32 and 64 for four of them), stayed
#: below a fixed 96 MiB (kernels, the first passes) plus 2 times what autograd saves for the backward pass
#: (:func:`~vizcnn.hooks.saved_bytes`; the rest is the backward pass's gradients, oneDNN's copies of
#: activations and the allocator's slack) plus the image, transforms and Adam (64 bytes a pixel);
#: 3 times leaves a margin. Before that, one pass through the whole network at its input size (the
#: recipe's, :func:`~.recipe.is_affine_in_image`, and the measurement's) holds a few of its leaf modules'
#: outputs at a time: their sum bounds it (this is the peak for an early layer of a large network).
_FIXED_BYTES, _SAVED_FACTOR, _PIXEL_BYTES = 96 * 2**20, 3.0, 64


def render_bytes(model, size: int, batch: int, modules: dict[str, torch.nn.Module]) -> float:
    """Upper bound on the memory a render of ``batch`` images of ``size`` px needs on top of the loaded model,
    when its forward pass stops after ``modules`` (the layers the objective reads; the whole network for none).

    What autograd saves is measured once per network and layers at the model's input size, and scaled by the pixels.
    """
    expect(model, Model, "model", "a Model from vizcnn.load_model(...)")
    saved = saved_bytes(model.net, modules, model.input.shape, model.device)
    scale = (size / model.input.size) ** 2
    optimizing = _SAVED_FACTOR * batch * scale * saved.upto + _PIXEL_BYTES * batch * size * size
    return _FIXED_BYTES + max(optimizing, saved.outputs)


def _check_size(
    model, size: int | None, batch: int = 1, seed: int = 0, steps: int = 1, modules: dict[str, torch.nn.Module] | None = None
) -> int:
    """:func:`render_size`, after checking the arguments, that ``batch`` images of it fit in memory
    (:func:`render_bytes`), and that the network runs at that size up to ``modules`` (the layers the
    objective reads; all of it for none)."""
    expect(model, Model, "model", "a Model from vizcnn.load_model(...)")
    if size is not None:
        expect_int(size, "size", 0)
    expect_int(batch, "batch", 1)
    expect_int(steps, "steps", 0)  # 0: the starting images, measured
    check_seed(seed)
    given = size is not None and size > 0
    size = render_size(model, size)
    need = render_bytes(model, size, batch, modules or {})
    check_memory(need, f"rendering {batch} image(s) of {size}x{size}", "use a smaller --size, fewer channels or a smaller --diversity", model.device)
    if size != model.input.size and not _runs_at(model, size, modules or {}):
        if given:  # e.g. a ViT, or a linear layer after a flatten: only the model's own size fits
            raise VizcnnError(
                f"{model.name} cannot take {size}x{size} images, only its own {model.input.size}x{model.input.size}: "
                f"use --size {model.input.size} (or leave --size out); the layers this objective reads need that size."
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
    return {name: model.layer(name).module for name in obj.layers if name not in (OUTPUT, IMAGE)}


def _shortcut(model, obj: Objective, extra: Objective | None):
    """``obj.via_input`` for its one layer, when it applies (``extra`` reads no layer activations)."""
    if obj.via_input is None or len(obj.layers) != 1 or obj.layers[0] in (OUTPUT, IMAGE):
        return None
    if extra is not None and set(extra.layers) - {IMAGE}:
        return None
    return obj.via_input(model.layer(obj.layers[0]).module)


def _activations(model, modules, stop: bool, x: torch.Tensor, cap, image: torch.Tensor) -> dict[str, torch.Tensor]:
    cap.clear()
    out = cap.run(x)  # the size was checked up front (_check_size), so a failure here is no user's mistake
    acts = dict(cap)
    acts[IMAGE] = image
    if not stop:
        acts[OUTPUT] = out
    missing = [n for n in modules if n not in acts]
    if missing:
        raise VizcnnError(f"layer(s) {', '.join(missing)} did not run in {model.name}'s forward pass.")
    return acts


def _optimize(
    model,
    obj: Objective,
    extra: Objective | None,
    *,
    batch: int,
    steps: int,
    size: int,
    seed: int,
    param: str,
    transforms: Transforms | None,
    lr: float,
    start: str,
    progress: bool,
    precision: str,
) -> tuple[torch.Tensor, list[float]]:
    """Maximize ``obj + extra``; return the final images ``(N, C, S, S)`` on CPU, ``obj`` per image on
    them and the baseline per image: ``obj`` on the plain images (the higher of grey and the mean
    input), or the best of the parameterization's :func:`~.param.baseline_images`)."""
    if steps < 0:
        raise VizcnnError(f"steps must be 0 or more, not {steps}.")
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be 'float32' or 'bfloat16', not {precision!r}.")
    device = model.device
    gen = torch.Generator().manual_seed(int(seed))
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(STARTS)}, not {start!r}.")
    mean = torch.tensor(model.input.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(model.input.std, device=device).view(1, -1, 1, 1)
    extra_layers = extra.layers if extra is not None else ()
    modules = {**_modules(model, obj), **(_modules(model, extra) if extra is not None else {})}
    stop = OUTPUT not in obj.layers + extra_layers
    shortcut = _shortcut(model, obj, extra)
    if shortcut is not None:  # values straight from the layer's input, with only the filters needed
        name = obj.layers[0]
        obj = Objective(lambda acts, _m: shortcut(acts[name]), [name], obj.description)
    total = obj + extra if extra is not None else obj
    shape = (batch, model.input.channels, size, size)
    plains = (torch.full(shape, 0.5, device=device), mean.expand(shape).clone())
    plan = transforms.plan(steps, batch, size, gen, device) if transforms is not None else None

    bar = progress_bar(total=steps, disable=not progress, desc=obj.description[:60], leave=False)
    backend = _backend(batch * size * size, device)
    hooks = capture(model.net, modules, stop=stop, inputs=shortcut is not None)
    # CPU only: measured there (oneDNN's strided-conv input gradient); GPUs keep their own kernels
    fast = space_to_depth(model.net) if device.type == "cpu" else nullcontext()
    with backend, frozen(model.net), fast, hooks as cap:
        with torch.no_grad():
            grey_v, mean_v = (obj(_activations(model, modules, stop, (p - mean) / std, cap, p), model) for p in plains)
        first = torch.where((grey_v > mean_v).view(-1, 1, 1, 1), plains[0][:, :, :1, :1], plains[1][:, :, :1, :1])
        begin = {"best": first.cpu(), "mean": tuple(model.input.mean), "grey": 0.5}[start]
        params, image_f = param_mod.make(param, shape, generator=gen, device=device, start=begin)
        optimizer = torch.optim.Adam(params, lr=lr)
        try:
            for step in range(steps):
                optimizer.zero_grad(set_to_none=True)
                image = image_f()
                x = plan.apply(image, step, fill=mean) if plan is not None else image
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                    values = total(_activations(model, modules, stop, (x - mean) / std, cap, image), model).float()
                (-values.sum()).backward()
                optimizer.step()
                if progress and (step % 8 == 0 or step == steps - 1):  # .item() waits for a GPU
                    bar.set_postfix(objective=f"{values.detach().mean().item():.3f}", refresh=False)
                bar.update()
        finally:
            bar.close()
        with torch.no_grad():
            final = image_f()
            values = obj(_activations(model, modules, stop, (final - mean) / std, cap, final), model)
            drawn = param_mod.baseline_images(param, device)  # the learned prior: its best random digit
            if drawn is None:
                baseline = torch.maximum(grey_v, mean_v)
            else:  # each draw for every image of the batch: the objective reads image i for its own unit
                on = lambda d: obj(_activations(model, modules, stop, (d - mean) / std, cap, d), model)
                baseline = torch.stack([on(d.expand(shape)) for d in drawn.unsqueeze(1)]).amax(0)
    return final.detach().cpu(), [float(v) for v in values.cpu()], [float(v) for v in baseline.cpu()]


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
    start: Literal["best", "mean", "grey"] = "best",
    progress: bool = True,
    precision: Literal["float32", "bfloat16"] = "float32",
    extra: Objective | None = None,
    labels: Sequence[str] | None = None,
) -> RenderResult:
    """Optimize ``batch`` images of ``size`` px to maximize ``obj`` (plus ``extra``) on ``model``.

    Args:
        model: a :class:`vizcnn.Model`.
        obj: the objective (sum over the batch is maximized); its value per
            image is what the result reports.
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
        start: ``best`` (default): start each image near whichever plain image
            scores higher under ``obj``, grey 0.5 or the model's mean input
            (black for MNIST), so the render starts at its baseline;
            ``mean`` or ``grey``: that one for all.
        progress: show a tqdm bar with the current objective.
        precision: ``bfloat16`` runs the network's forward and backward passes
            in bfloat16 (autocast): faster on CPUs with bfloat16 instructions
            and on GPUs, slightly different pictures. The image, the optimizer
            and the reported values stay float32.
        extra: terms added to ``obj`` while optimizing only, not reported:
            regularizers (``-0.1 * total_variation()``), diversity.
        labels: captions (default ``obj``'s description and the batch index).
    """
    expect(obj, Objective, "obj", "an objective such as optvis.channel('conv3', 5)")
    size = _check_size(model, size, batch, seed, steps, _modules(model, obj))
    if transforms == "standard":
        transforms = standard(size)
    elif transforms is not None and not isinstance(transforms, Transforms):
        raise ValueError(f"transforms must be 'standard', a Transforms or None, not {transforms!r}.")
    param = param or model.default_param(obj.layers)
    images, values, baselines = _optimize(
        model, obj, extra, batch=batch, steps=steps, size=size, seed=seed, param=param,
        transforms=transforms, lr=lr, start=start, progress=progress, precision=precision,
    )  # fmt: skip
    labels = list(labels) if labels is not None else [obj.description if batch == 1 else f"#{i}" for i in range(batch)]
    return RenderResult(
        images, labels, values, [None] * batch, title=f"{model.name}: {obj.description}", baselines=baselines,
        baseline=param_mod.baseline_name(param),
    )


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
    precision: Literal["float32", "bfloat16"] = "float32",
    recipe: Recipe | None = None,
    **overrides,
) -> RenderResult:
    """Render channels of ``layer``: one batch element per channel, one pass per step for all.

    The objective, transforms and regularizers come from ``recipe``, by
    default :func:`~.recipe.recipe_for` the layer and size (the centre unit
    for a layer that is affine in the image, the channel mean elsewhere;
    lighter transforms below 64 px); ``overrides`` replace its fields
    (``position``, ``param``, ``transforms``, ``lr``, ``start``, ``tv``, ``l1``,
    ``l2``, ``blur``; ``None`` keeps the default). With ``diversity=D > 0`` each
    channel gets ``D`` images pushed apart by lucid's diversity term (the
    recipe's weight over the channel's group). With a ``cache``, each channel's image and
    value are stored under a key of model, weights, layer, channel and
    settings, and later calls only render what is missing.
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
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Recipe)}
    if unknown:
        raise TypeError(f"unknown render setting(s) {', '.join(sorted(unknown))}")
    try:
        recipe = (recipe or recipe_for(model, layer, size)).replace(**overrides)
    except ValueError as exc:
        raise VizcnnError(str(exc)) from None
    # every setting that changes the pictures, defaults filled in so that equal calls share keys
    settings = dict(
        engine=ENGINE_VERSION, steps=steps, size=size, seed=seed, diversity=diversity, recipe=repr(recipe),
        param=param_mod.fingerprint(recipe.param), precision=precision,
    )  # fmt: skip
    keys = {
        c: cache_key(model=model.name, weights=model.weights_hash, layer=resolved.path, channel=c, **settings)
        for c in channels
    }
    done: dict[int, tuple[torch.Tensor, list[float], list[float]]] = {}
    if cache is not None:
        for c in channels:
            blob = cache.get("render", keys[c], ".pt")
            if blob is not None:
                entry = torch.load(io.BytesIO(blob), weights_only=True)
                done[c] = (entry["images"], entry["values"].tolist(), entry["baselines"].tolist())
    todo = [c for c in dict.fromkeys(channels) if c not in done]
    if todo:
        rows = [c for c in todo for _ in range(reps)]
        obj = channels_per_image(layer, rows, recipe.position)
        extra = recipe.penalty()
        if diversity > 0:
            spread = -recipe.diversity * diversity_term(layer, groups=len(todo))
            extra = spread if extra is None else extra + spread
        res = render(
            model, obj, batch=len(rows), steps=steps, size=size, seed=seed, progress=progress, precision=precision,
            param=recipe.param, transforms=recipe.transforms, lr=recipe.lr, start=recipe.start, extra=extra,
        )  # fmt: skip
        for i, c in enumerate(todo):
            part = slice(i * reps, (i + 1) * reps)
            done[c] = (res.images[part], res.values[part], res.baselines[part])
            if cache is not None:
                buf = io.BytesIO()
                torch.save(
                    {"images": res.images[part].clone(), "values": torch.tensor(res.values[part], dtype=torch.float64),
                     "baselines": torch.tensor(res.baselines[part], dtype=torch.float64)}, buf,
                )  # fmt: skip
                cache.put("render", keys[c], buf.getvalue(), ".pt")
    images = torch.cat([done[c][0] for c in channels])
    values = [v for c in channels for v in done[c][1]]
    baselines = [v for c in channels for v in done[c][2]]
    name = resolved.name
    labels = [f"{name}:{c}" for c in channels for _ in range(reps)]
    return RenderResult(
        images, labels, values, [c for c in channels for _ in range(reps)],
        title=f"{model.name} {name}, objective: {recipe.caption}" + (f", {recipe.param} parameterization" if recipe.param != "fourier" else ""),
        baselines=baselines, objective=recipe.caption, baseline=param_mod.baseline_name(recipe.param),
    )  # fmt: skip
