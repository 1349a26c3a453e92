"""Shared fixtures: the shared MNIST folder, a temporary torchvision cache with random AlexNet weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(os.environ.get("VIZCNN_MNIST", ROOT.parent / "shared" / "data" / "mnist"))

torch.set_num_threads(min(2, os.cpu_count() or 1))
# No test reaches the network: weights that are not cached fail with the offline message. The download
# tests (tests/test_download.py) lift this for a server they run on 127.0.0.1.
os.environ["VIZCNN_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def shared_mnist() -> Path:
    """The official MNIST test set and 10k training digits; skip when this machine lacks them."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST data folder {SHARED_MNIST} is absent (set VIZCNN_MNIST to point at one)")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def alexnet_cache(tmp_path_factory) -> Path:
    """A $TORCH_HOME holding randomly initialised AlexNet weights under torchvision's file name."""
    import torchvision

    home = tmp_path_factory.mktemp("torch_home")
    url = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    target = home / "hub" / "checkpoints" / os.path.basename(url)
    target.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), target)
    return home


@pytest.fixture
def torch_home(alexnet_cache, monkeypatch) -> Path:
    """Point $TORCH_HOME at the cache with random AlexNet weights for one test."""
    monkeypatch.setenv("TORCH_HOME", str(alexnet_cache))
    return alexnet_cache


@pytest.fixture(scope="session")
def alexnet(alexnet_cache):
    """AlexNet loaded through the real cache path (random weights)."""
    import vizcnn

    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(alexnet_cache)
    try:
        return vizcnn.load_model("alexnet", device="cpu")
    finally:
        if old is None:
            del os.environ["TORCH_HOME"]
        else:
            os.environ["TORCH_HOME"] = old


@pytest.fixture(scope="session")
def mnist_cnn():
    import vizcnn

    return vizcnn.load_model("mnist-cnn", device="cpu")


def require(module: str, reason: str):
    """Import an optional dependency; skip without it locally, but FAIL under CI (``$CI`` set), which installs every extra.

    A broken extras install must not hide the tests that need it.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: {exc}; CI installs every extra, so this must import", pytrace=False)
        pytest.skip(f"{reason}: {exc}")


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run ``vizcnn`` in-process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    from vizcnn.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Path:
    """The folder written by examples/export_cifar_net.py (.pt2, .pt, .pth), shared by the model-file tests."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_cifar_net", ROOT / "examples" / "export_cifar_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("cifar_net")
    module.export(out)
    return out
