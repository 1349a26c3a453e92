"""The :class:`Model` every vizcnn function takes: a network plus what it needs to be read.

A torchvision model knows nothing about its preprocessing, class names or the
layer names people use; vizcnn keeps those beside the network, the way
torchvision keeps them in its weights enum.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import VizcnnError, unknown_name

__all__ = ["InputSpec", "Layer", "Model", "OUTPUT"]

#: The name objectives give a network's output (the class logits), as opposed to a layer's.
OUTPUT = "<output>"


@dataclass(frozen=True)
class InputSpec:
    """What the network expects: ``channels`` x ``size`` x ``size`` normalized pixels.

    ``resize`` is the short side an image is scaled to before the centre crop
    of ``size`` (ImageNet: 256 then 224); ``None`` scales straight to ``size``.
    """

    channels: int
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """PIL image -> ``(C, H, W)`` float tensor in [0, 1], resized and centre-cropped."""
        image = image.convert("L" if self.channels == 1 else "RGB")
        if self.resize:
            w, h = image.size
            scale = self.resize / min(w, h)
            image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
            w, h = image.size
            left, top = (w - self.size) // 2, (h - self.size) // 2
            image = image.crop((left, top, left + self.size, top + self.size))
        elif image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.BILINEAR)
        arr = np.asarray(image, dtype=np.float32) / 255.0
        if arr.ndim == 2:
            arr = arr[None]
        else:
            arr = arr.transpose(2, 0, 1)
        return torch.from_numpy(arr.copy())

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` pixels in [0, 1] -> what the network takes."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x * std + mean


@dataclass(frozen=True)
class Layer:
    """A resolved layer: the name asked for, its module path and the module."""

    name: str
    path: str
    module: nn.Module

    @property
    def kind(self) -> str:
        from .layers import kind_of

        return kind_of(self.module)


@dataclass
class Model:
    """A network in eval mode with its input spec, class names and layer names.

    Attributes:
        name: the zoo name (``alexnet``, ``mnist-cnn``, ``torchvision:vgg16``).
        net: the ``nn.Module``; in-place activations are switched off.
        input: preprocessing and input size.
        categories: class names, index = output unit.
        aliases: friendly layer name -> module path (``conv1`` -> ``features.0``).
        weights: where the weights came from (a file, ``bundled``, ``random``).
        default_params: layer path (or :data:`OUTPUT`, the network's output)
            -> the feature visualization parameterization that renders of it
            use when none is given (see :mod:`vizcnn.optvis.param`); layers
            not named use ``fourier``.
    """

    name: str
    net: nn.Module
    input: InputSpec
    categories: Sequence[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    weights: str = "random"
    default_params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.net.eval()
        self._modules = dict(self.net.named_modules())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, input={self.input.shape}, classes={len(self.categories)}, weights={self.weights!r})"

    @property
    def device(self) -> torch.device:
        for p in self.net.parameters():
            return p.device
        return torch.device("cpu")

    def to(self, device: torch.device | str) -> "Model":
        self.net.to(device)
        return self

    def default_param(self, layers: Iterable[str]) -> str:
        """The parameterization for a render of ``layers`` (names, paths or :data:`OUTPUT`):
        the one :attr:`default_params` gives every one of them, else ``fourier``."""
        kinds = {self.default_params.get(self.aliases.get(n, n)) for n in layers}
        return kinds.pop() if len(kinds) == 1 and None not in kinds else "fourier"

    # -- layers -----------------------------------------------------------
    def layer_names(self) -> list[str]:
        """Friendly names first, then every module path."""
        paths = [p for p in self._modules if p]
        return list(self.aliases) + [p for p in paths if p not in self.aliases]

    def layer(self, name: str | nn.Module) -> Layer:
        """Resolve a friendly name, a dotted module path (or lucent's ``features_0``), or a module."""
        if isinstance(name, nn.Module):
            for path, module in self._modules.items():
                if module is name:
                    return Layer(self.alias_of(path), path, module)
            raise VizcnnError(f"that module is not part of {self.name}.")
        if isinstance(name, Layer):
            return name
        if not isinstance(name, str):
            raise TypeError(f"a layer is a name such as 'conv2', a module path or a module, not {type(name).__name__}.")
        path = self.aliases.get(name, name)
        if path not in self._modules or not path:
            underscored = {p.replace(".", "_"): p for p in self._modules if p}
            if name in underscored:
                path = underscored[name]
            else:
                raise unknown_name(
                    "layer", name, self.layer_names(), hint=f"Run `vizcnn layers {self.name}` to see them all."
                )
        return Layer(name, path, self._modules[path])

    def alias_of(self, path: str) -> str:
        """The friendly name of a module path, or the path itself."""
        for alias, p in self.aliases.items():
            if p == path:
                return alias
        return path

    # -- classes ----------------------------------------------------------
    def class_index(self, target: str | int) -> int:
        """Class name (case-insensitive) or index -> output index; close matches on a miss."""
        if not isinstance(target, (str, int, np.integer)) or isinstance(target, bool):
            raise TypeError(f"a class is a name or an index, not {target!r} ({type(target).__name__}).")
        if isinstance(target, str):
            key = target.strip()
            by_name = {c.lower(): i for i, c in enumerate(self.categories)}
            if key.lower() in by_name:
                return by_name[key.lower()]
            if not key.lstrip("-").isdigit():
                raise unknown_name("class", target, list(self.categories), hint="Give a class name or an index.")
            target = int(key)
        n = len(self.categories)
        if not 0 <= int(target) < n:
            raise VizcnnError(f"class index {target} is out of range: {self.name} has {n} classes (0-{n - 1}).")
        return int(target)

    # -- images -----------------------------------------------------------
    def preprocess(self, images: Image.Image | Sequence[Image.Image]) -> torch.Tensor:
        """PIL image(s) -> normalized ``(N, C, H, W)`` tensor on the model's device."""
        if isinstance(images, Image.Image):
            images = [images]
        x = torch.stack([self.input.to_tensor(im) for im in images])
        return self.input.normalize(x).to(self.device)

    @functools.cached_property
    def weights_hash(self) -> str:
        """A short hash of every parameter and buffer, for result caches.

        Each tensor is hashed in place (through the buffer protocol), not copied: a copy of the
        largest weight (150 MB for AlexNet's first linear layer) was most of a small render's peak memory.
        """
        h = hashlib.sha256()
        for key, value in sorted(self.net.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy())
        return h.hexdigest()[:16]
