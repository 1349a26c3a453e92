"""The model zoo: a registry of model specs, and :func:`load_model`.

Each spec says how to build the network, what input it takes, its class names,
its friendly layer names and where its default weights live. Model names and
layer names are data here, not ``if`` chains. ``torchvision:NAME`` builds a
spec on the fly from torchvision's own weights enum, so every torchvision
classification model works with the same rules as ``alexnet``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ..catalog import MODEL_FORMS
from ..device import default_device
from ..errors import expect, expect_int, unknown_name, VizcnnError, WeightsNotFoundError
from ..limits import check_finite, check_memory
from ..download import is_url
from . import custom
from .layers import derive_aliases
from .mnist_nets import LeNet, MnistCNN
from .model import OUTPUT, InputSpec, Model
from .weights import cached_weights, load_into, read_state_dict, torch_hub_checkpoint

__all__ = ["ModelSpec", "register_model", "list_models", "get_spec", "load_model", "MNIST_INPUT", "DIGITS"]

#: ``weights="random"`` networks are initialized from this seed (torch's own default seed changes with
#: every process), so an untrained network, and every render of it, is the same in every run.
RANDOM_WEIGHTS_SEED = 0
MNIST_INPUT = InputSpec(channels=1, size=28, mean=(0.1307,), std=(0.3081,))
DIGITS = tuple(str(d) for d in range(10))

ALEXNET_ALIASES = {
    "conv1": "features.0", "relu1": "features.1", "pool1": "features.2",
    "conv2": "features.3", "relu2": "features.4", "pool2": "features.5",
    "conv3": "features.6", "relu3": "features.7",
    "conv4": "features.8", "relu4": "features.9",
    "conv5": "features.10", "relu5": "features.11", "pool5": "features.12",
    "fc6": "classifier.1", "relu6": "classifier.2",
    "fc7": "classifier.4", "relu7": "classifier.5",
    "fc8": "classifier.6",
}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build and read one model.

    Attributes:
        name: zoo name.
        build: ``build(num_classes)`` -> untrained ``nn.Module``.
        input: input spec (preprocessing, size).
        categories: class names.
        aliases: friendly layer names -> module paths; empty derives
            ``conv1..N``/``fc1..N`` from the forward order.
        bundled: file name under ``vizcnn/models/weights/`` of shipped weights.
        url: where torchvision downloads the pretrained weights from (its
            cache file name is the URL's last part).
        description: one line for ``vizcnn models``.
        default_params: layer path (or :data:`~.model.OUTPUT`) -> the
            parameterization its feature visualizations use by default
            (see :attr:`Model.default_params`).
    """

    name: str
    build: Callable[[int], nn.Module]
    input: InputSpec
    categories: Sequence[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    bundled: str | None = None
    url: str | None = None
    description: str = ""
    default_params: Mapping[str, str] = field(default_factory=dict)

    def default_weights_path(self) -> Path | None:
        if self.bundled:
            return Path(str(resources.files("vizcnn.models") / "weights" / self.bundled))
        if self.url:
            return torch_hub_checkpoint(self.url)
        return None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the zoo; a name can be registered once."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a model called {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(include: str | None = None) -> list[str]:
    """Registered names, optionally filtered by a glob (``"mnist*"``)."""
    names = sorted(_REGISTRY)
    return [n for n in names if include is None or fnmatch.fnmatch(n, include)]


def _torchvision_spec(arch: str, name: str, aliases: Mapping[str, str] | None = None) -> ModelSpec:
    import torchvision.models as tvm

    available = tvm.list_models(module=tvm)
    if arch not in available:
        raise unknown_name("torchvision model", arch, available, hint="Use torchvision:NAME with a classification model.")
    weights = tvm.get_model_weights(arch).DEFAULT
    t = weights.transforms()
    size = t.crop_size[0] if isinstance(t.crop_size, (list, tuple)) else t.crop_size
    resize = t.resize_size[0] if isinstance(t.resize_size, (list, tuple)) else t.resize_size
    categories = weights.meta["categories"]

    def build(num_classes: int) -> nn.Module:
        extra = {"aux_logits": False, "init_weights": False} if arch in ("googlenet", "inception_v3") else {}
        if arch.startswith("vit_"):  # as torchvision's builder does: a ViT for its weights' image size (vit_h_14: 518)
            extra["image_size"] = weights.meta["min_size"][0]
        return tvm.get_model(arch, weights=None, num_classes=num_classes, **extra)

    return ModelSpec(
        name=name,
        build=build,
        input=InputSpec(channels=3, size=size, mean=tuple(t.mean), std=tuple(t.std), resize=resize),
        categories=categories,
        aliases=aliases or {},
        url=weights.url,
        description=f"torchvision {arch}, {weights.name} weights ({len(categories)} classes)",
    )


def get_spec(name: str) -> ModelSpec:
    """The spec for a zoo name or ``torchvision:NAME``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith("torchvision:"):
        arch = name.split(":", 1)[1]
        return _REGISTRY[arch] if arch in _REGISTRY else _torchvision_spec(arch, name)
    raise unknown_name("model", name, list_models(), hint=MODEL_FORMS)


def _switch_off_inplace(net: nn.Module) -> None:
    """captum's layer attribution and forward hooks need out-of-place activations."""
    for module in net.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False


def _default_weights(spec: ModelSpec) -> Path:
    """The bundled file, or torchvision's cached file (downloaded on first use)."""
    if spec.url and not spec.bundled:
        return cached_weights(spec.url, what=f"weights for {spec.name}")
    path = spec.default_weights_path()
    if path is None or not path.is_file():
        raise WeightsNotFoundError(
            f"no weights for {spec.name}: expected the file {str(path or '?')!r}, which does not exist. "
            "Reinstall vizcnn, or pass a file with --weights FILE."
        )
    return path


def _check_load_args(name, weights, input_size, mean, std, categories) -> None:
    """``TypeError`` or :class:`VizcnnError` for arguments :func:`load_model` cannot use, before anything is built."""
    expect(name, (str, os.PathLike, nn.Module, torch.export.ExportedProgram), "name",
           "a model name such as 'mnist-cnn', 'torchvision:NAME', 'module.path:callable', a .pt/.pt2 file, or an nn.Module")  # fmt: skip
    if weights is not None:
        expect(weights, (str, os.PathLike), "weights", "a weights file path, 'random' or None")
    if input_size is not None:
        expect(input_size, (tuple, list), "input_size", "(C, H, W), e.g. (3, 32, 32)")
        if len(input_size) != 3:
            raise VizcnnError(f"input_size must be (C, H, W), e.g. (3, 32, 32); got {tuple(input_size)}.")
        c, h, w = (expect_int(v, "input_size", 1) for v in input_size)
        # load_model runs one dummy image through the network; a conv net holds tens of copies of it
        check_memory(64 * 4 * c * h * w, f"an input of {c}x{h}x{w}", "give a smaller --input-size")
    for key, values in (("mean", mean), ("std", std)):
        if values is not None:
            expect(values, (tuple, list), key, "a list of numbers, one or one per channel")
            for v in values:
                check_finite(v, key)
    if categories is not None:
        expect(categories, (tuple, list), "categories", "a list of class names")


def load_model(
    name: str | nn.Module | torch.export.ExportedProgram,
    weights: str | os.PathLike | None = None,
    *,
    device: torch.device | str | None = None,
    input_size: Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    categories: Sequence[str] | None = None,
) -> Model:
    """Build a model with its weights, in eval mode, on ``device``.

    Args:
        name: a name from :func:`list_models`, ``torchvision:NAME``,
            ``timm:NAME``, ``module.path:callable`` or a saved model file
            (TorchScript ``.pt``, exported program ``.pt2``); or an
            ``nn.Module`` (used itself, not copied) or ``ExportedProgram``; see
            :mod:`vizcnn.models.custom`.
        weights: ``None`` for the default weights (bundled, or torchvision's
            cache under ``$TORCH_HOME``, downloaded on first use); an
            ``http(s)://`` URL (downloaded once into the same cache, checked
            against the SHA-256 prefix of a ``name-<hex>.pth`` file name); a path to a state dict
            (``.pth``/``.pt``, loaded with ``weights_only=True``) or a
            ``.safetensors`` file; or ``"random"`` for an untrained network.
        device: defaults to the GPU when available, else the CPU.
        input_size: ``(C, H, W)`` the network takes, for models that do not
            say (overrides what a model carries).
        mean, std: per-channel normalization (one value or one per channel).
        categories: class names, one per output unit.

    Raises:
        VizcnnError: unknown name, or weights that do not fit.
        WeightsNotFoundError: the weights are not cached and ``VIZCNN_OFFLINE=1``.
        DownloadError: a download failed (nothing is left in the cache).
    """
    _check_load_args(name, weights, input_size, mean, std, categories)
    device = torch.device(device) if device else default_device()
    if is_url(weights):
        weights = cached_weights(str(weights))
    name = os.fspath(name) if isinstance(name, os.PathLike) else name
    with torch.random.fork_rng(devices=[]):  # random weights: the same untrained network in every process
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        net, model_input, names, source, spec_aliases, default_params = _build(
            name, weights, device, input_size, mean, std, categories
        )
    name = name if isinstance(name, str) else type(name).__name__
    if not isinstance(net, torch.jit.ScriptModule):
        _switch_off_inplace(net)
    aliases = dict(spec_aliases) or derive_aliases(net, model_input.shape)
    return Model(name=name, net=net, input=model_input, categories=names, aliases=aliases, weights=source,
                 default_params=dict(default_params))


def _build(name, weights, device: torch.device, input_size, mean, std, categories) -> tuple:
    """:func:`load_model`'s network, input, class names, weights source, layer aliases and default
    parameterizations, for checked arguments."""
    if not isinstance(name, str) or (name not in _REGISTRY and custom.is_custom(name)):
        net, model_input, names, source = custom.build_custom(
            name, weights, device, input_size=input_size, mean=mean, std=std, categories=categories
        )
        return net, model_input, names, source, {}, {}
    spec = get_spec(name)
    net = spec.build(len(spec.categories)).eval()  # eval before the forward passes below (BatchNorm statistics)
    if weights is None:
        path = _default_weights(spec)
        load_into(net, read_state_dict(path), str(path))
        source = "bundled" if spec.bundled else str(path)
    elif str(weights) == "random":
        source = "random"
    else:
        load_into(net, read_state_dict(weights), str(weights))
        source = str(weights)
    net.to(device)
    model_input = custom.describe_input(spec.input, input_size, mean, std)
    if categories is not None and len(categories) != len(spec.categories):
        raise VizcnnError(f"{len(categories)} class names given, but {name} has {len(spec.categories)} classes.")
    names = list(categories if categories is not None else spec.categories)
    if input_size is not None:
        custom.output_shape(net, model_input, guessed=False, what=name)
    return net, model_input, names, source, spec.aliases, spec.default_params


def _classes_through_prior(logits: str) -> dict[str, str]:
    """Class renders through the learned MNIST prior: ``benchmarks/prior_quality.py`` measured
    more of them read as their digit by another network than with Fourier pixels, while the
    hidden channels' renders reached the test set's best digit less often (conv3)."""
    return {logits: "prior", OUTPUT: "prior"}


def _register_builtin() -> None:
    register_model(_torchvision_spec("alexnet", "alexnet", ALEXNET_ALIASES))
    mnist_aliases = {n: n for n in ("conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3", "conv4", "relu4", "pool2", "fc1", "relu5", "fc2")}
    register_model(
        ModelSpec(
            name="mnist-cnn",
            build=lambda n: MnistCNN(n),
            input=MNIST_INPUT,
            categories=DIGITS,
            aliases=mnist_aliases,
            bundled="mnist-cnn.safetensors",
            description="compact 4-conv CNN with BatchNorm, trained on MNIST (bundled weights)",
            default_params=_classes_through_prior("fc2"),
        )
    )
    lenet_aliases = {n: n for n in ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2", "relu4", "fc3")}
    register_model(
        ModelSpec(
            name="lenet",
            build=lambda n: LeNet(n),
            input=MNIST_INPUT,
            categories=DIGITS,
            aliases=lenet_aliases,
            bundled="lenet.safetensors",
            description="LeNet-5 style CNN, trained on MNIST (bundled weights)",
            default_params=_classes_through_prior("fc3"),
        )
    )


_register_builtin()
