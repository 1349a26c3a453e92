"""``timm:NAME`` models, with weights from timm's Hugging Face cache or ``--weights FILE``."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ...errors import VizcnnError, WeightsNotFoundError, unknown_name
from ..model import InputSpec
from ..weights import load_into, read_state_dict

__all__ = ["from_timm"]


def from_timm(name: str, weights) -> tuple[nn.Module, InputSpec, list[str] | None, str]:
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
        from ..weights import torch_hub_checkpoint

        path = torch_hub_checkpoint(url)
        if path.is_file():
            return path
        raise WeightsNotFoundError(
            f"no weights for timm:{arch}: expected the file {str(path)!r}, which does not exist. vizcnn never downloads. "
            f"On a machine with internet, fetch {url} and copy it there (the cache follows $TORCH_HOME), or pass it "
            "with --weights FILE. Use --weights random for an untrained network."
        )
    raise WeightsNotFoundError(f"timm:{arch} has no pretrained weights: pass a state dict with --weights FILE, or --weights random.")
