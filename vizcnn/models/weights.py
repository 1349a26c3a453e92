"""Loading weights: bundled safetensors, torchvision's cache (downloaded on first use), or a user's file.

Pickled files load with ``weights_only=True``; ``.safetensors`` files through
safetensors. Weights at a URL (torchvision's defaults, ``--weights URL``) are
downloaded once into ``$TORCH_HOME/hub/checkpoints/`` by :mod:`vizcnn.download`,
hash-checked like ``torch.hub.load_state_dict_from_url(check_hash=True)``, and
read from there afterwards, offline too. With ``VIZCNN_OFFLINE=1`` a missing
file is a :class:`~vizcnn.errors.WeightsNotFoundError` that says where to put it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from .. import download as _download
from ..errors import VizcnnError, WeightsNotFoundError

__all__ = ["cached_weights", "read_state_dict", "load_into", "torch_hub_checkpoint"]


def torch_hub_checkpoint(url: str) -> Path:
    """Where torchvision caches the file at ``url``: ``$TORCH_HOME/hub/checkpoints/<name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?", 1)[0])


def cached_weights(url: str, *, what: str = "the weights", progress: bool = True) -> Path:
    """The cached copy of ``url``, downloaded (hash-checked, atomically) on first use.

    The file goes where torch.hub puts it, so torchvision, timm and vizcnn
    share one cache. ``VIZCNN_WEIGHTS_MIRROR`` replaces the URL's folder.

    Raises:
        WeightsNotFoundError: ``VIZCNN_OFFLINE=1`` and the file is not cached.
        DownloadError: the download failed (nothing is left in the cache).
    """
    if not _download.is_url(url):
        raise VizcnnError(f"{url!r} is not an http:// or https:// address.")
    path = torch_hub_checkpoint(url)
    if path.is_file():
        return path
    if _download.offline():
        raise WeightsNotFoundError(
            f"no {what}: expected the file {str(path)!r}, which does not exist, and VIZCNN_OFFLINE is set, so "
            f"vizcnn does not download it. On a machine with internet, fetch {url} (e.g. `curl -LO {url}`) and copy "
            f"the file to {str(path)!r} (the cache follows $TORCH_HOME), or pass it with --weights FILE. "
            "Use --weights random for an untrained network."
        )
    source = _download.mirrored(url, "weights")
    return _download.download(source, path, sha256_prefix=_download.hash_prefix(path.name), progress=progress)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a ``torch.save`` file (``weights_only=True``)."""
    path = Path(path)
    if path.is_dir():
        raise VizcnnError(f"weights {str(path)!r} is a folder; give the weights file (.pth, .pt or .safetensors) in it.")
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {str(path)!r} does not exist. Check the path given with --weights.")
    if path.stat().st_size == 0:
        raise VizcnnError(f"weights file {str(path)!r} is empty (0 bytes); was it copied or saved completely?")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
            raise VizcnnError(
                f"{str(path)!r} is not a weights file: it is {_what_is(path)}, not a zip archive written by torch.save "
                "nor a .safetensors file. Give a state dict saved with torch.save(model.state_dict(), path) or a "
                ".safetensors file."
            ) from None
        raise VizcnnError(
            f"{str(path)!r} holds Python objects besides tensors (a whole pickled model?), and vizcnn loads "
            "weights with weights_only=True so that a file cannot run code. Save the weights alone with "
            "torch.save(model.state_dict(), path), or as .safetensors."
        ) from None
    except Exception as exc:  # torch and safetensors raise many kinds here
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        kind = "a .safetensors file" if path.suffix == ".safetensors" else "a zip archive written by torch.save"
        raise VizcnnError(
            f"cannot read weights from {str(path)!r}: it is {_what_is(path)}, not {kind} "
            f"(the loader said: {type(exc).__name__}: {reason}). Give a state dict saved with "
            "torch.save(model.state_dict(), path) or a .safetensors file."
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise VizcnnError(
            f"{str(path)!r} does not hold a state dict (a mapping of names to tensors). "
            "Save one with torch.save(model.state_dict(), path)."
        )
    return {k.removeprefix("module."): v for k, v in state.items()}


#: Leading bytes of the file types most often given by mistake.
_SIGNATURES = {
    b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip file", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document", b"\x80": "a bare pickle stream (an old torch.save format, or not from torch)",
    b"{": "text that looks like JSON", b"<": "text that looks like HTML or XML",
}  # fmt: skip


def _what_is(path: Path) -> str:
    """What ``path`` looks like, from its size and first bytes, for error messages."""
    with open(path, "rb") as f:
        head = f.read(512)
    size = path.stat().st_size
    kind = next((name for sig, name in _SIGNATURES.items() if head.startswith(sig)), None)
    if kind is None:
        text = head.decode("utf-8", errors="replace")
        printable = all(ch.isprintable() or ch in "\t\r\n" for ch in text[:-1])  # the last may be a cut character
        kind = "a text file" if printable else f"binary data of an unknown kind (starting {head[:8].hex(' ')})"
    return f"{kind} of {size} bytes"


def load_into(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net``, reporting the first mismatched keys and shapes."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append("missing keys: " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else ""))
        if wrong:
            parts.append("shape mismatches (file vs model): " + "; ".join(wrong[:5]) + (" ..." if len(wrong) > 5 else ""))
        raise VizcnnError(
            f"the weights in {source} do not match the architecture: " + "; ".join(parts)
            + ". Check that the file belongs to this model."
        )
    net.load_state_dict(state)
