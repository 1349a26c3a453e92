"""Downloads against a real HTTP server on 127.0.0.1 that each test starts and stops.

The server serves a good checkpoint (its name carries its SHA-256 prefix, as
torch.hub's do), a file whose hash does not match its name, a response that
drops after part of the promised bytes, and MNIST IDX files whose MD5 sums the
test computes. A closed port stands for an unreachable host. Nothing reaches
beyond the loopback address.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import socket
import threading
import time

import numpy as np
import pytest
import torch

from tests.conftest import run_cli as _run_cli
from vizcnn.data import mnist, write_idx
from vizcnn.download import DownloadError, download, hash_prefix
from vizcnn.models import get_spec, load_model


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``run_cli`` with the error paragraph unwrapped, so phrases can be matched across line breaks."""
    code, out, err = _run_cli(*argv)
    return code, out, " ".join(err.split())


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):
        self.hits.append(self.path)
        if self.path.startswith("/drop/"):
            body = self.files.get(self.path.replace("/drop/", "/", 1), b"x" * 4096)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    """``(base_url, files, hits)`` of a server on 127.0.0.1; proxies off so requests stay on loopback."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("VIZCNN_OFFLINE", raising=False)
    files: dict[str, bytes] = {}
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"files": files, "hits": hits})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files, hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _lenet_checkpoint() -> tuple[bytes, str]:
    """LeNet's state dict as torch.save bytes, and a torch.hub style name carrying its SHA-256 prefix."""
    torch.manual_seed(3)
    buf = io.BytesIO()
    torch.save(get_spec("lenet").build(10).state_dict(), buf)
    data = buf.getvalue()
    return data, f"lenet-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def _cache_files(home) -> list:
    folder = home / "hub" / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_hash_prefix_follows_torch_hub():
    assert hash_prefix("resnet18-f37072fd.pth") == "f37072fd"
    assert hash_prefix("alexnet-owt-7be5be79.pth") == "7be5be79"
    assert hash_prefix("my_weights.pth") is None


def test_weights_url_downloads_once_then_works_offline(server, tmp_path, monkeypatch):
    base, files, hits = server
    data, name = _lenet_checkpoint()
    files[f"/w/{name}"] = data
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = load_model("lenet", f"{base}/w/{name}", device="cpu")
    saved = torch.load(io.BytesIO(data), weights_only=True)
    assert torch.equal(model.net.conv1.weight, saved["conv1.weight"])
    cached = tmp_path / "hub" / "checkpoints" / name
    assert cached.read_bytes() == data and _cache_files(tmp_path) == [name]
    # the second run reads the cache: no request, and offline works too
    monkeypatch.setenv("VIZCNN_OFFLINE", "1")
    load_model("lenet", f"{base}/w/{name}", device="cpu")
    assert hits == [f"/w/{name}"]


def test_zoo_default_weights_download_through_the_mirror(server, tmp_path, monkeypatch):
    """AlexNet's default file, not cached: fetched on first use from VIZCNN_WEIGHTS_MIRROR under torchvision's name."""
    import torchvision

    base, files, hits = server
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), buf)
    name = get_spec("alexnet").url.rsplit("/", 1)[1]  # alexnet-owt-7be5be79.pth: its hash cannot match random weights
    files[f"/mirror/{name}"] = buf.getvalue()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("VIZCNN_WEIGHTS_MIRROR", f"{base}/mirror/")
    code, _, err = run_cli("layers", "alexnet")
    assert code == 2 and hits == [f"/mirror/{name}"]
    assert "SHA-256" in err and "7be5be79" in err and "Traceback" not in err
    assert _cache_files(tmp_path) == []  # the bad file was not kept


def test_checksum_mismatch_is_refused_and_not_cached(server, tmp_path, monkeypatch):
    base, files, _ = server
    data, _ = _lenet_checkpoint()
    files["/w/lenet-00000000.pth"] = data
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, _, err = run_cli("layers", "lenet", "--weights", f"{base}/w/lenet-00000000.pth")
    assert code == 2 and "SHA-256" in err and "00000000" in err and "Nothing was saved" in err
    assert "Traceback" not in err and _cache_files(tmp_path) == []


def test_dropped_connection_leaves_nothing(server, tmp_path, monkeypatch):
    base, files, _ = server
    data, name = _lenet_checkpoint()
    files[f"/w/{name}"] = data
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, _, err = run_cli("layers", "lenet", "--weights", f"{base}/drop/w/{name}")
    assert code == 2 and "broke off" in err and f"of {len(data):,} bytes" in err
    assert "Traceback" not in err and _cache_files(tmp_path) == []


def test_unreachable_host_fails_within_seconds(tmp_path, monkeypatch):
    monkeypatch.delenv("VIZCNN_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = f"http://127.0.0.1:{_closed_port()}/w/lenet-12345678.pth"
    start = time.monotonic()
    code, _, err = run_cli("layers", "lenet", "--weights", url)
    assert time.monotonic() - start < 5
    assert code == 2 and "cannot reach 127.0.0.1" in err and "Traceback" not in err
    assert _cache_files(tmp_path) == []


def test_offline_never_touches_the_network(server, tmp_path, monkeypatch):
    base, _, hits = server
    monkeypatch.setenv("VIZCNN_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, _, err = run_cli("layers", "lenet", "--weights", f"{base}/w/lenet-12345678.pth")
    assert code == 2 and "VIZCNN_OFFLINE" in err and str(tmp_path / "hub" / "checkpoints") in err
    code, _, err = run_cli("data", "mnist", str(tmp_path / "mnist"))
    assert code == 2 and "VIZCNN_OFFLINE" in err
    assert hits == [] and not (tmp_path / "mnist").exists()


def test_download_refuses_a_bad_mirror_and_non_urls(tmp_path, monkeypatch):
    monkeypatch.delenv("VIZCNN_OFFLINE", raising=False)
    with pytest.raises(DownloadError, match="not an http"):
        download("ftp://127.0.0.1/x.pth", tmp_path / "x.pth")
    monkeypatch.setenv("VIZCNN_WEIGHTS_MIRROR", "/srv/mirror")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, _, err = run_cli("layers", "lenet", "--weights", "http://127.0.0.1:1/lenet-12345678.pth")
    assert code == 2 and "VIZCNN_WEIGHTS_MIRROR='/srv/mirror' is not an http" in err


# -- MNIST ---------------------------------------------------------------------
def _idx_gz(array: np.ndarray, tmp_path, name: str) -> bytes:
    write_idx(tmp_path / name, array)
    return gzip.compress((tmp_path / name).read_bytes())


@pytest.fixture
def mnist_files(tmp_path):
    """Small valid IDX .gz files under MNIST's names, with their MD5 sums."""
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(6, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([7, 2, 1, 0], dtype=np.uint8),
    }
    blobs = {name: _idx_gz(a, src, name.removesuffix(".gz")) for name, a in arrays.items()}
    return arrays, blobs, {name: hashlib.md5(b).hexdigest() for name, b in blobs.items()}


def test_data_mnist_fetches_checks_and_reads(server, tmp_path, monkeypatch, mnist_files):
    import torchvision

    base, files, hits = server
    arrays, blobs, md5s = mnist_files
    for name, blob in blobs.items():
        files[f"/mnist/{name}"] = blob
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", list(md5s.items()))
    monkeypatch.setenv("VIZCNN_DATA_MIRROR", f"{base}/mnist")
    out = tmp_path / "mnist"
    code, stdout, err = run_cli("data", "mnist", str(out), "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(md5s)
    digits = mnist(out)
    assert digits.labels.tolist() == [7, 2, 1, 0] and np.array_equal(digits.images, arrays["t10k-images-idx3-ubyte.gz"])
    # a second run finds the files intact and fetches nothing
    hits.clear()
    assert run_cli("data", "mnist", str(out), "-q")[0] == 0 and hits == []


def test_data_mnist_bad_checksum_and_drop_leave_nothing(server, tmp_path, monkeypatch, mnist_files):
    import torchvision

    base, files, _ = server
    _, blobs, md5s = mnist_files
    for name, blob in blobs.items():
        files[f"/mnist/{name}"] = blob[:-1] + bytes([blob[-1] ^ 1])  # one flipped bit per file
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", list(md5s.items()))
    monkeypatch.setenv("VIZCNN_DATA_MIRROR", f"{base}/mnist")
    out = tmp_path / "mnist"
    code, _, err = run_cli("data", "mnist", str(out), "-q")
    assert code == 2 and "MD5" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []
    for name, blob in blobs.items():
        files[f"/mnist/{name}"] = blob
    monkeypatch.setenv("VIZCNN_DATA_MIRROR", f"{base}/drop/mnist")
    code, _, err = run_cli("data", "mnist", str(out), "-q")
    assert code == 2 and "broke off" in err
    assert not out.exists() or list(out.iterdir()) == []


def test_data_mnist_keeps_a_users_file(server, tmp_path, monkeypatch, mnist_files):
    import torchvision

    base, files, hits = server
    _, blobs, md5s = mnist_files
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", list(md5s.items()))
    monkeypatch.setenv("VIZCNN_DATA_MIRROR", f"{base}/mnist")
    out = tmp_path / "mnist"
    out.mkdir()
    (out / "train-images-idx3-ubyte.gz").write_bytes(b"mine")
    code, _, err = run_cli("data", "mnist", str(out), "-q")
    assert code == 2 and "does not overwrite" in err
    assert (out / "train-images-idx3-ubyte.gz").read_bytes() == b"mine" and hits == []
    code, _, err = run_cli("data", "cifar", "-q")
    assert code == 2 and "unknown data set 'cifar'" in err
