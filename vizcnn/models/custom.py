"""Models that are not in the zoo: a Python callable, a saved TorchScript or exported file, timm.

``MODEL`` (and :func:`vizcnn.load_model`) accepts, besides the zoo names:

- ``module.path:callable``: the module is imported (the current directory is
  searched too) and the callable is called with no arguments; it returns the
  ``nn.Module``. ``--weights FILE`` loads a state dict into it.
- a saved model file: TorchScript (``.pt`` from ``torch.jit.save``) or an
  exported program (``.pt2`` from ``torch.export.save``), told apart by the
  archive's layout, not only by the suffix.
- ``timm:NAME`` when timm is installed, with weights from timm's Hugging Face
  cache or ``--weights FILE``.

Exported programs are unflattened back into their module tree
(``torch.export.unflatten``) and their one-operator leaves (convolutions,
linear layers, activation functions, pools, batch norms) are rebuilt as real ``torch.nn``
modules sharing the file's tensors, so hooks, layer names, filters and
attribution work as on the original model. TorchScript modules cannot run
Python hooks: every hook registration on them raises a :class:`VizcnnError`
that says so and what to do instead.

A model that carries no input description gets one from ``input_size``,
``mean``, ``std`` and ``categories`` (the CLI's ``--input-size``, ``--mean``,
``--std`` and ``--classes``); the defaults are documented on
:func:`describe_input`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import VizcnnError, WeightsNotFoundError, unknown_name
from .model import InputSpec
from .weights import load_into, read_state_dict

__all__ = [
    "Built",
    "build_custom",
    "describe_input",
    "is_custom",
    "output_shape",
    "parse_floats",
    "parse_input_size",
    "read_classes",
]  # fmt: skip

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_MODEL_FILE_SUFFIXES = {".pt", ".pt2", ".pth", ".ts", ".ptl", ".zip", ".jit"}
_DEFAULT_SIZE = 224
_SUGGEST = (
    "give vizcnn the model's Python code as module.path:callable (with --weights FILE), "
    "or save it with torch.export.save as a .pt2 file"
)

#: What :func:`build_custom` returns: (network, input spec, class names, where the weights came from).
Built = tuple[nn.Module, InputSpec, list[str], str]


def is_custom(name: str | nn.Module | torch.export.ExportedProgram) -> bool:
    """Whether ``name`` is a module or program, a timm name, a model file or an import path rather than a zoo name."""
    if isinstance(name, (nn.Module, torch.export.ExportedProgram)):
        return True
    name = str(name)
    return name.startswith("timm:") or _is_file_name(name) or bool(_IMPORT_PATH.match(name) and not name.startswith("torchvision:"))


def _is_file_name(name: str) -> bool:
    return Path(name).suffix in _MODEL_FILE_SUFFIXES or os.path.isfile(name)


# -- input description -----------------------------------------------------
def parse_input_size(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` (or ``"3x32"``) -> ``(3, 32, 32)``; vizcnn works with square inputs."""
    try:
        parts = [int(p) for p in text.lower().replace(",", "x").split("x")]
    except ValueError:
        parts = []
    if len(parts) == 2:
        parts.append(parts[1])
    if len(parts) != 3 or min(parts) < 1:
        raise VizcnnError(f"cannot read --input-size {text!r}: write channels x height x width, e.g. 3x32x32.")
    if parts[1] != parts[2]:
        raise VizcnnError(f"--input-size {text!r} is not square: vizcnn works with square inputs (e.g. 3x224x224).")
    return parts[0], parts[1], parts[2]


def parse_floats(text: str, flag: str) -> tuple[float, ...]:
    """``"0.5,0.5,0.5"`` -> ``(0.5, 0.5, 0.5)``; ``flag`` names the option in the error."""
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise VizcnnError(f"cannot read {flag} {text!r}: give comma-separated numbers, one per channel (e.g. 0.5,0.5,0.5).") from None


def read_classes(path: str | os.PathLike) -> list[str]:
    """Class names from a file: a JSON list, or one name per line (blank lines ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VizcnnError(f"cannot read the class names file {str(path)!r}: {exc.strerror or exc}. Check the path given with --classes.") from None
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VizcnnError(f"{str(path)!r} starts like JSON but is not valid JSON ({exc}). Give a JSON list of names or one name per line.") from None
        if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
            raise VizcnnError(f"{str(path)!r} must hold a JSON list of class names, e.g. [\"cat\", \"dog\"].")
        return [str(n) for n in names]
    return [line.strip() for line in text.splitlines() if line.strip()]


def describe_input(
    known: InputSpec | None,
    input_size: Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    channels: int | None = None,
) -> InputSpec:
    """The input spec from what the model carries (``known``), overridden by what the user gave.

    Without ``known`` and ``input_size`` the input is ``channels`` (from the
    first convolution, else 3) x 224 x 224; without ``known``, ``mean`` and
    ``std`` are 0 and 1 per channel, i.e. the network takes pixels in [0, 1].
    """
    if input_size is not None:
        c, h, w = input_size
        if h != w:
            raise VizcnnError(f"input size {c}x{h}x{w} is not square: vizcnn works with square inputs.")
        resize = known.resize if known and known.size == h else None
    elif known is not None:
        c, h, resize = known.channels, known.size, known.resize
    else:
        c, h, resize = channels or 3, _DEFAULT_SIZE, None

    def per_channel(values, carried, neutral: float, flag: str) -> tuple[float, ...]:
        if values is None:
            return tuple(carried) if carried is not None and len(carried) == c else (neutral,) * c
        values = tuple(float(v) for v in values)
        if len(values) == 1:
            values *= c
        if len(values) != c:
            raise VizcnnError(f"{flag} has {len(values)} values but the input has {c} channels: give one value, or one per channel.")
        return values

    m = per_channel(mean, known.mean if known else None, 0.0, "--mean")
    s = per_channel(std, known.std if known else None, 1.0, "--std")
    if any(v == 0 for v in s):
        raise VizcnnError("--std has a zero: every standard deviation must be non-zero.")
    return InputSpec(channels=c, size=h, mean=m, std=s, resize=resize)


def _first_conv_channels(net: nn.Module) -> int | None:
    for module in net.modules():
        if isinstance(module, nn.Conv2d) or getattr(module, "original_name", None) == "Conv2d":
            return int(module.in_channels)
    return None


def output_shape(net: nn.Module, spec: InputSpec, *, guessed: bool, what: str) -> tuple[int, ...]:
    """Run one dummy image through ``net``; return the output shape without the batch."""
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, *spec.shape, device=device))
    except Exception as exc:  # any error from the user's forward pass
        shape = "x".join(map(str, spec.shape))
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (
            "Check the size given with --input-size."
            if not guessed
            else "vizcnn guessed this size because the model does not say: give it with --input-size CxHxW (e.g. --input-size 3x32x32)."
        )
        raise VizcnnError(f"{what} does not accept a 1x{shape} input ({first}). {hint}") from None
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        out = out[0]
    return tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ()


def _categories(given: Sequence[str] | None, out_shape: tuple[int, ...], known: Sequence[str] | None) -> list[str]:
    n = out_shape[0] if len(out_shape) == 1 else None
    if given is not None:
        given = list(given)
        if n is not None and len(given) != n:
            raise VizcnnError(f"--classes gives {len(given)} class names but the model has {n} outputs: give one name per output unit.")
        return given
    if known is not None and (n is None or len(known) == n):
        return list(known)
    return [str(i) for i in range(n or 0)]


# -- import path -------------------------------------------------------------
def _import_callable(name: str) -> Callable[[], nn.Module] | nn.Module:
    module_name, attr = name.split(":", 1)
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise VizcnnError(
                f"cannot import module {module_name!r} for {name}: no such module on the Python path "
                f"(the current directory {cwd!r} is searched too). Run vizcnn from the folder that holds it, "
                "or install its package."
            ) from None
        raise VizcnnError(f"importing {module_name!r} failed: it needs the module {exc.name!r}, which is not installed.") from None
    except Exception as exc:  # an error inside the user's module
        raise VizcnnError(f"importing {module_name!r} failed with {type(exc).__name__}: {exc}. Fix the module and retry.") from None
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
            raise unknown_name(
                f"callable in {module_name}", attr, public,
                hint="Give module.path:callable, where the callable builds and returns the nn.Module.",
            )  # fmt: skip
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module) and not callable(obj):
        raise VizcnnError(f"{name} is a {type(obj).__name__}, not a callable: point at a function or class that returns an nn.Module.")
    return obj


def _from_import_path(name: str, weights) -> tuple[nn.Module, str]:
    obj = _import_callable(name)
    if isinstance(obj, nn.Module):
        net = obj
    else:
        try:
            net = obj()
        except Exception as exc:  # the user's builder failed
            raise VizcnnError(
                f"calling {name}() failed with {type(exc).__name__}: {exc}. vizcnn calls it with no arguments; "
                "wrap it in a function that passes them."
            ) from None
    if not isinstance(net, nn.Module):
        raise VizcnnError(f"{name}() returned a {type(net).__name__}, not a torch.nn.Module: the callable must build and return the network.")
    return net, _load_weights(net, weights, f"as built by {name}() (its own initialisation; no --weights given)")


def _load_weights(net: nn.Module, weights, own: str) -> str:
    """Load ``weights`` into ``net`` unless none (or ``random``) are given; return the source, ``own`` for none."""
    if weights is None or str(weights) == "random":
        return own
    load_into(net, read_state_dict(weights), str(weights))
    return str(weights)


# -- saved files ------------------------------------------------------------
def _archive_kind(path: Path) -> str:
    """``torchscript``, ``exported``, or an error for anything else."""
    if not path.is_file():
        raise WeightsNotFoundError(f"model file {str(path)!r} does not exist. Check the path given as MODEL.")
    if not zipfile.is_zipfile(path):
        raise VizcnnError(
            f"{str(path)!r} is not a saved model: TorchScript (.pt, torch.jit.save) and exported programs "
            "(.pt2, torch.export.save) are zip archives, and this file is not one."
        )
    with zipfile.ZipFile(path) as archive:
        parts = {n.split("/", 1)[1] if "/" in n else n for n in archive.namelist()}
    if "archive_format" in parts or any(p.startswith("models/") and p.endswith(".json") for p in parts):
        return "exported"
    if "constants.pkl" in parts and any(p.startswith("code/") for p in parts):
        return "torchscript"
    if "data.pkl" in parts:
        raise VizcnnError(
            f"{str(path)!r} was written by torch.save (a state dict or a pickled model), not by torch.jit.save or "
            "torch.export.save. A state dict has no architecture: pass the architecture as MODEL "
            "(module.path:callable) and this file with --weights. vizcnn does not unpickle whole models (unsafe): "
            "save those with torch.export.save(torch.export.export(model, (example,)), 'model.pt2')."
        )
    raise VizcnnError(f"{str(path)!r} is a zip archive, but neither a TorchScript nor an exported-program file.")


def _refuse_hooks(net: nn.Module) -> None:
    """Make hook registration on a TorchScript module raise a :class:`VizcnnError` that says why."""
    for path, module in net.named_modules():

        def refuse(*_args, _path=path or "(the whole model)", **_kwargs):
            raise VizcnnError(
                f"this needs a hook on layer {_path!r}, and a TorchScript model cannot run Python hooks: its forward "
                "pass is compiled, so nothing that reads a layer's activations (activations, examples, render, "
                f"attribute, dictionary) works on it; layers does. To use them, {_SUGGEST}."
            )

        for method in ("register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook", "register_backward_hook"):
            object.__setattr__(module, method, refuse)


def _load_torchscript(path: Path, device) -> nn.Module:
    try:
        net = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # torch raises RuntimeError with long C++ messages
        raise VizcnnError(f"cannot load the TorchScript file {str(path)!r}: {str(exc).splitlines()[0]}.") from None
    _refuse_hooks(net)
    return net


def _side(v):
    """``[2, 2]`` -> ``2`` and ``[2, 3]`` -> ``(2, 3)``: pools keep the form ``nn.MaxPool2d(2)`` was built with."""
    if isinstance(v, (list, tuple)):
        return v[0] if v and all(x == v[0] for x in v) else tuple(v)
    return v


def _conv(a: dict) -> nn.Module:
    w, groups = a["weight"], a["groups"]
    return nn.Conv2d(
        w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), a["stride"], a["padding"], a["dilation"], groups,
        bias=a["bias"] is not None,
    )  # fmt: skip


#: aten operator -> builder of the torch.nn module that runs it, from the call's named arguments
#: (schema defaults filled in, tensors in place of graph nodes).
_REBUILD: dict[str, Callable[[dict], nn.Module]] = {
    "aten.conv2d.default": _conv,
    "aten.conv2d.padding": _conv,
    "aten.linear.default": lambda a: nn.Linear(a["weight"].shape[1], a["weight"].shape[0], bias=a["bias"] is not None),
    "aten.relu.default": lambda a: nn.ReLU(),
    "aten.gelu.default": lambda a: nn.GELU(a["approximate"]),
    "aten.silu.default": lambda a: nn.SiLU(),
    "aten.sigmoid.default": lambda a: nn.Sigmoid(),
    "aten.tanh.default": lambda a: nn.Tanh(),
    "aten.leaky_relu.default": lambda a: nn.LeakyReLU(a["negative_slope"]),
    "aten.dropout.default": lambda a: nn.Dropout(a["p"]),
    "aten.max_pool2d.default": lambda a: nn.MaxPool2d(
        _side(a["kernel_size"]), _side(a["stride"]) or None, _side(a["padding"]), _side(a["dilation"]), ceil_mode=a["ceil_mode"]
    ),
    "aten.avg_pool2d.default": lambda a: nn.AvgPool2d(
        _side(a["kernel_size"]), _side(a["stride"]) or None, _side(a["padding"]), a["ceil_mode"], a["count_include_pad"],
        a["divisor_override"],
    ),
    "aten.adaptive_avg_pool2d.default": lambda a: nn.AdaptiveAvgPool2d(tuple(a["output_size"])),
    "aten.flatten.using_ints": lambda a: nn.Flatten(a["start_dim"], a["end_dim"]),
    "aten.batch_norm.default": lambda a: nn.BatchNorm2d(a["weight"].shape[0], eps=a["eps"], momentum=a["momentum"]),
}


def _rebuild_leaf(leaf: nn.Module) -> nn.Module | None:
    """A real ``torch.nn`` module doing what an unflattened one-operator leaf does, sharing its tensors."""
    graph = getattr(leaf, "graph", None)
    if graph is None:
        return None
    calls = [n for n in graph.nodes if n.op == "call_function"]
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(calls) != 1 or len(inputs) != 1 or str(calls[0].target) not in _REBUILD:
        return None
    named = calls[0].normalized_arguments(leaf, normalize_to_only_use_kwargs=True)
    if named is None or named.kwargs.get("input") is not inputs[0]:
        return None
    tensors = dict(leaf.named_parameters(recurse=False)) | dict(leaf.named_buffers(recurse=False))
    by_node = {n: tensors.get(n.target) for n in graph.nodes if n.op == "get_attr"}
    args = {k: by_node.get(v) if isinstance(v, torch.fx.Node) else v for k, v in named.kwargs.items()}
    try:
        module = _REBUILD[str(calls[0].target)](args)
    except (TypeError, ValueError, KeyError, AttributeError):  # a call this table does not cover: keep the leaf
        return None
    own = module.state_dict()
    if set(own) != set(tensors) or any(own[k].shape != v.shape for k, v in tensors.items()):
        return None
    for key, value in tensors.items():
        if isinstance(value, nn.Parameter):
            module.register_parameter(key, value)
        else:
            module.register_buffer(key, value)
    return module


def _restore_modules(net: nn.Module) -> None:
    for path, leaf in list(net.named_modules()):
        if not path or list(leaf.children()):
            continue
        module = _rebuild_leaf(leaf)
        if module is not None:
            parent_path, _, child = path.rpartition(".")
            setattr(net.get_submodule(parent_path) if parent_path else net, child, module)


def _load_exported(path: Path) -> torch.export.ExportedProgram:
    if path.suffix != ".pt2":
        raise VizcnnError(f"{str(path)!r} holds an exported program (torch.export.save), whose files end in .pt2: rename it to .pt2.")
    try:
        return torch.export.load(str(path))
    except Exception as exc:  # torch raises many kinds here
        raise VizcnnError(f"cannot load the exported program {str(path)!r}: {str(exc).splitlines()[0]}.") from None


def _from_program(
    program: torch.export.ExportedProgram, what: str, input_size: Sequence[int] | None, device
) -> tuple[nn.Module, InputSpec | None]:
    """The program unflattened into its module tree with rebuilt leaves, and the input it was exported for."""
    user = set(program.graph_signature.user_inputs)
    shapes = [n.meta["val"].shape for n in program.graph.nodes if n.op == "placeholder" and n.name in user and "val" in n.meta]
    if len(shapes) != 1 or len(shapes[0]) != 4:
        raise VizcnnError(f"{what} takes {len(shapes)} inputs; vizcnn reads models that take one (N, C, H, W) image batch.")
    shape = shapes[0]
    if isinstance(shape[0], int):
        raise VizcnnError(
            f"{what} was exported with a fixed batch size of {shape[0]}, and vizcnn runs batches of images. "
            "Export it with a dynamic batch dimension: torch.export.export(model, (example,), "
            "dynamic_shapes=({0: torch.export.Dim('batch')},)) (see examples/export_cifar_net.py)."
        )
    net = torch.export.unflatten(program)
    _restore_modules(net)
    net.to(device)
    if not all(isinstance(d, int) for d in shape[1:]):
        return net, None
    c, h, w = (int(d) for d in shape[1:])
    if h != w:
        raise VizcnnError(f"{what} takes {h}x{w} inputs; vizcnn works with square inputs.")
    if input_size is not None and tuple(input_size) != (c, h, w):
        raise VizcnnError(
            f"{what} was exported for inputs of {c}x{h}x{w} and runs no other size: "
            "drop --input-size, or export it again with that size."
        )
    return net, InputSpec(channels=c, size=h, mean=(0.0,) * c, std=(1.0,) * c)


def _from_file(path: Path, weights, input_size: Sequence[int] | None, device) -> tuple[nn.Module, InputSpec | None, str]:
    """A TorchScript or exported file: (net, the input it carries, weights source)."""
    kind = _archive_kind(path)
    if weights is not None:
        raise VizcnnError(
            f"{str(path)!r} is a saved model that carries its own weights; --weights is for zoo, timm and "
            "module.path:callable models. Drop --weights."
        )
    if kind == "torchscript":
        if path.suffix == ".pt2":
            raise VizcnnError(
                f"{str(path)!r} is a TorchScript file (torch.jit.save), but .pt2 is the suffix of exported programs "
                "(torch.export.save): rename it to .pt."
            )
        return _load_torchscript(path, device), None, f"TorchScript file {path}"
    net, known = _from_program(_load_exported(path), repr(str(path)), input_size, device)
    return net, known, f"exported program {path}"


# -- timm -------------------------------------------------------------------
def _timm(name: str, weights) -> tuple[nn.Module, InputSpec, list[str] | None, str]:
    try:
        import timm
        from timm.data import ImageNetInfo, infer_imagenet_subset, resolve_data_config
    except ImportError:
        raise VizcnnError(f"{name} needs timm, which is not installed: pip install 'vizcnn[timm]' (or pip install timm).") from None
    arch = name.split(":", 1)[1]
    if not timm.is_model(arch):
        raise unknown_name("timm model", arch, timm.list_models(), hint="See timm.list_models() for every name.")
    net = timm.create_model(arch, pretrained=False)
    source = "random"
    if weights is None:
        path = _timm_cached_file(arch, dict(net.pretrained_cfg))
        net = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
        source = str(path)
    elif str(weights) != "random":
        load_into(net, read_state_dict(weights), str(weights))
        source = str(weights)
    cfg = resolve_data_config({}, model=net)
    c, size, _ = cfg["input_size"]
    resize = int(size / cfg["crop_pct"]) if cfg.get("crop_pct") else None
    spec = InputSpec(channels=c, size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), resize=resize)
    subset = infer_imagenet_subset(net)
    categories = [d.split(",")[0] for d in ImageNetInfo(subset).label_descriptions()] if subset else None
    return net, spec, categories, source


def _timm_cached_file(arch: str, cfg: dict) -> Path:
    """timm's default weights in the Hugging Face cache, or the error saying where they are expected."""
    from huggingface_hub import constants, try_to_load_from_cache

    repo = cfg.get("hf_hub_id")
    if repo:
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found)
        folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
        url = f"https://huggingface.co/{repo}/resolve/main/model.safetensors"
        raise WeightsNotFoundError(
            f"no weights for timm:{arch}: expected timm's Hugging Face cache {str(folder)!r} (snapshots/<revision>/"
            f"model.safetensors), which does not hold them. vizcnn never downloads. On a machine with internet, run "
            f"`python -c \"import timm; timm.create_model('{arch}', pretrained=True)\"` and copy that folder here "
            f"(the cache follows $HF_HOME), or fetch {url} and pass it with --weights FILE. "
            "Use --weights random for an untrained network."
        )
    url = cfg.get("url")
    if url:
        from .weights import torch_hub_checkpoint

        path = torch_hub_checkpoint(url)
        if path.is_file():
            return path
        raise WeightsNotFoundError(
            f"no weights for timm:{arch}: expected the file {str(path)!r}, which does not exist. vizcnn never downloads. "
            f"On a machine with internet, fetch {url} and copy it there (the cache follows $TORCH_HOME), or pass it "
            "with --weights FILE. Use --weights random for an untrained network."
        )
    raise WeightsNotFoundError(f"timm:{arch} has no pretrained weights: pass a state dict with --weights FILE, or --weights random.")


# -- entry point --------------------------------------------------------------
def build_custom(
    name: str | nn.Module | torch.export.ExportedProgram,
    weights: str | os.PathLike | None,
    device: torch.device,
    *,
    input_size: Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    categories: Sequence[str] | None = None,
) -> Built:
    """Build a timm, file or import-path model, or take an ``nn.Module`` or exported program, on ``device``.

    Returns (net, input, categories, weights source). A module passed in is
    used itself, not copied: it is moved to ``device`` and put in eval mode.
    """
    known: InputSpec | None = None
    known_categories = None
    if isinstance(name, torch.export.ExportedProgram):
        if weights is not None:
            raise VizcnnError("an exported program carries its own weights: drop weights=.")
        net, known = _from_program(name, "the exported program", input_size, device)
        name, source = "ExportedProgram", "exported program"
    elif isinstance(name, nn.Module):
        net, source = name, _load_weights(name, weights, "the module's own weights")
        if isinstance(net, torch.jit.ScriptModule):
            _refuse_hooks(net)
        name = type(net).__name__
        net.to(device)
    elif name.startswith("timm:"):
        net, known, known_categories, source = _timm(name, weights)
        net.to(device)
    elif _IMPORT_PATH.match(name) and not _is_file_name(name):
        net, source = _from_import_path(name, weights)
        net.to(device)
    else:
        net, known, source = _from_file(Path(name), weights, input_size, device)
    net.eval()  # before any forward pass: a training-mode BatchNorm would update its running statistics
    spec = describe_input(known, input_size, mean, std, channels=_first_conv_channels(net))
    out_shape = output_shape(net, spec, guessed=input_size is None and known is None, what=name)
    return net, spec, _categories(categories, out_shape, known_categories), source
