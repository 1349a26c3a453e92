"""The Ray executor on Ray's local runtime: same site as a local build, killed workers retried, resumable."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from vizcnn.errors import VizcnnError, WeightsNotFoundError

from .conftest import require, run_cli

require("ray", "the ray executor needs Ray (pip install 'vizcnn[ray]')")

from vizcnn.gallery import LocalExecutor, WorkUnit, build_gallery, get_executor
from vizcnn.gallery.ray_executor import RayExecutor, task_resources

SPEC = """
title = "ray test"

[render]
steps = 6
size = 28
diversity = 1
examples = 4
batch = 2

[[models]]
name = "mnist-cnn"
layers = [{ name = "conv1", channels = "0-3" }, { name = "conv3", channels = "5,9" }]
views = ["features", "examples", "connections"]
"""
CHANNELS = 6  # per unit kind: 4 in conv1, 2 in conv3
UNITS = 6  # features and examples: conv1 in 2 batches of 2, conv3 in 1


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "ray.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def ray_executor():
    """One local Ray runtime (2 CPUs) for the module; starting one takes seconds."""
    executor = RayExecutor(2)
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def local_site(spec, tmp_path_factory) -> Path:
    """The reference: the same gallery built in-process."""
    out = tmp_path_factory.mktemp("local")
    report = build_gallery(spec, out, executor=LocalExecutor(1), progress=False)
    assert report.rendered == 2 * CHANNELS and report.units == UNITS
    return out


def site_files(out: Path) -> dict[str, bytes]:
    """Every page and image of a site (the cache folder aside), by relative path."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".cache" not in p.relative_to(out).parts
    }


def assert_same_site(out: Path, reference: Path) -> None:
    ours, theirs = site_files(out), site_files(reference)
    assert sorted(ours) == sorted(theirs)
    different = [name for name in ours if ours[name] != theirs[name]]
    assert different == [], f"files differ from the local build: {different[:5]}"


class CrashFirstAttempt:
    """Wraps an executor: the first task to start kills its worker process (``os._exit``)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    @property
    def retries(self) -> int:
        return self.inner.retries

    def map(self, fn, units):
        def crash_once(unit):
            marker = Path(unit.cache_root) / "crashed"
            marker.parent.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: of two tasks starting at once, exactly one creates the marker and dies
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return fn(unit)
            os._exit(1)

        return self.inner.map(crash_once, units)

    def close(self) -> None:
        self.inner.close()


def test_ray_build_is_identical_to_local_build(spec, local_site, ray_executor, tmp_path):
    report = build_gallery(spec, tmp_path, executor=ray_executor, progress=False)
    assert (report.rendered, report.reused, report.units) == (2 * CHANNELS, 0, UNITS)
    assert report.pages == 1 + 1 + 2 + CHANNELS  # index, model, 2 layers, 6 channels
    assert_same_site(tmp_path, local_site)
    # the workers wrote the same cache entries (renders are seeded: same bytes)
    cache = {p.relative_to(tmp_path / ".cache"): p.read_bytes() for p in (tmp_path / ".cache").rglob("*.json")}
    ref = {p.relative_to(local_site / ".cache"): p.read_bytes() for p in (local_site / ".cache").rglob("*.json")}
    assert cache == ref and len(cache) == 2 * CHANNELS  # one features and one examples entry per channel


def test_killed_worker_is_retried_and_every_page_is_written(spec, local_site, ray_executor, tmp_path):
    report = build_gallery(spec, tmp_path, executor=CrashFirstAttempt(ray_executor), progress=False)
    assert (tmp_path / ".cache" / "crashed").is_file()  # a worker did die mid-build
    assert report.rendered == 2 * CHANNELS and report.retries == 1
    assert all(p.is_file() and p.read_text().rstrip().endswith("</html>") for p in report.page_paths)
    assert_same_site(tmp_path, local_site)


def test_build_interrupted_locally_resumes_on_ray(spec, local_site, ray_executor, tmp_path):
    done = []

    def stop_after_two(unit):
        done.append(unit)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_gallery(spec, tmp_path, executor=LocalExecutor(1), progress=False, on_unit=stop_after_two)
    assert not (tmp_path / "index.html").exists()
    first = sum(len(u.channels) for u in done)
    report = build_gallery(spec, tmp_path, executor=ray_executor, progress=False)
    assert (report.reused, report.rendered, report.units) == (first, 2 * CHANNELS - first, UNITS - 2)
    assert_same_site(tmp_path, local_site)


def test_workers_take_the_weights_from_the_object_store(ray_executor, tmp_path):
    from safetensors.torch import save_file

    import vizcnn
    from vizcnn.gallery import units as gallery

    model = vizcnn.load_model("mnist-cnn", "random", device="cpu")  # not the bundled weights
    path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(path))
    settings = (("diversity", 0), ("seed", 0), ("size", 28), ("steps", 3))
    unit = WorkUnit("features", "mnist-cnn", str(path), model.weights_hash, "conv2", (3, 4), settings, str(tmp_path / "ray"))
    gallery.worker_model(unit)  # the driver has loaded the file, as a build has ...
    path.unlink()  # ... and the workers cannot read it
    assert list(ray_executor.map(gallery.run_unit, [unit])) == [(unit, 2)]
    gallery.run_unit(dataclasses.replace(unit, cache_root=str(tmp_path / "here")))  # in-process, same model
    ray_cache = {p.name: p.read_bytes() for p in (tmp_path / "ray").rglob("*.json")}
    here = {p.name: p.read_bytes() for p in (tmp_path / "here").rglob("*.json")}
    assert len(ray_cache) == 2 and ray_cache == here


def test_random_weights_known_only_to_the_driver(ray_executor, tmp_path):
    from vizcnn.gallery.spec import parse_spec

    # random weights differ at every load: the workers must use the driver's
    spec, models = parse_spec(SPEC.replace('name = "mnist-cnn"', 'name = "mnist-cnn"\nweights = "random"'))
    here = build_gallery(spec, tmp_path / "here", models=models, progress=False)
    there = build_gallery(spec, tmp_path / "ray", executor=ray_executor, models=models, progress=False)
    assert here.rendered == there.rendered == 2 * CHANNELS
    assert_same_site(tmp_path / "ray", tmp_path / "here")


def test_user_errors_are_not_retried_and_keep_their_message(ray_executor, tmp_path):
    unit = WorkUnit("features", "mnist-cnn", None, _hash(), "conv1", (0,), (), str(tmp_path))

    def fails(u):
        with open(Path(u.cache_root) / "attempts", "a") as f:
            f.write("x")
        raise WeightsNotFoundError("weights file w.pt does not exist")  # an OSError too

    with pytest.raises(WeightsNotFoundError, match="^weights file w.pt does not exist$"):
        list(ray_executor.map(fails, [unit]))
    assert (tmp_path / "attempts").read_text() == "x"


def test_transient_errors_are_retried(ray_executor, tmp_path):
    unit = WorkUnit("features", "mnist-cnn", None, _hash(), "conv1", (0,), (), str(tmp_path))

    def flaky(u):
        with open(Path(u.cache_root) / "attempts", "a") as f:
            f.write("x")
        if (Path(u.cache_root) / "attempts").read_text() == "x":
            raise OSError("disk hiccup")
        return 7

    assert list(ray_executor.map(flaky, [unit])) == [(unit, 7)]
    assert (tmp_path / "attempts").read_text() == "xx"


def _hash() -> str:
    import vizcnn

    return vizcnn.load_model("mnist-cnn", device="cpu").weights_hash


def test_one_task_per_gpu_else_one_cpu():
    assert task_resources({"CPU": 16.0, "GPU": 4.0}) == {"num_cpus": 1, "num_gpus": 1}
    assert task_resources({"CPU": 16.0}) == {"num_cpus": 1, "num_gpus": 0}


def test_cli_gallery_on_ray(spec, local_site, ray_executor, tmp_path):
    code, out, err = run_cli("gallery", str(spec), "-o", str(tmp_path), "--executor", "ray", "-q")
    assert code == 0, err
    assert f"{1 + 1 + 2 + CHANNELS} pages" in out and f"{2 * CHANNELS} channels rendered" in out
    assert_same_site(tmp_path, local_site)


def test_cli_address_needs_the_ray_executor(spec, tmp_path):
    code, _out, err = run_cli("gallery", str(spec), "-o", str(tmp_path), "--address", "auto")
    assert code == 2 and "--executor ray" in err and "Traceback" not in err
    assert not (tmp_path / "index.html").exists()


def test_get_executor_knows_ray():
    executor = get_executor("ray", 1)
    assert isinstance(executor, RayExecutor) and executor.address is None
    executor.close()  # never started: nothing to shut down
    with pytest.raises(VizcnnError, match="ray"):
        get_executor("rya", 1)


# -- a cluster of several nodes on this machine (last: one driver per process, so the local runtime goes first) --


@pytest.fixture(scope="module")
def cluster(ray_executor):
    """A head node that runs no tasks and two worker nodes of one CPU each, small object stores."""
    import ray
    from ray.cluster_utils import Cluster

    ray_executor.close()
    store = 80 * 2**20
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": store})
    workers = [nodes.add_node(num_cpus=1, object_store_memory=store) for _ in range(2)]
    nodes.wait_for_nodes()
    yield nodes, workers
    ray.shutdown()
    nodes.shutdown()


class StallOnNode:
    """Wraps an executor: the first task to start on node ``victim`` writes ``marker`` and waits to be killed."""

    def __init__(self, inner, victim: str, marker: Path) -> None:
        self.inner, self.victim, self.marker = inner, victim, marker

    @property
    def retries(self) -> int:
        return self.inner.retries

    def map(self, fn, units):
        victim, marker = self.victim, self.marker

        def stall(unit):
            import time

            import ray

            if ray.get_runtime_context().get_node_id() == victim and not marker.exists():
                marker.touch()
                time.sleep(300)  # the node is killed meanwhile
            return fn(unit)

        return self.inner.map(stall, units)

    def close(self) -> None:
        self.inner.close()


def test_a_node_lost_mid_build_is_retried_on_another(spec, local_site, cluster, tmp_path):
    import threading
    import time

    import ray

    nodes, workers = cluster
    executor = RayExecutor(address=nodes.address)
    executor._connect()
    driver = ray.get_runtime_context().get_node_id()
    victim = next(w for w in workers if w.node_id != driver)
    marker = tmp_path / "stalled"

    def kill_when_stalled():
        deadline = time.monotonic() + 240
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        nodes.remove_node(victim, allow_graceful=False)

    killer = threading.Thread(target=kill_when_stalled)
    killer.start()
    try:
        report = build_gallery(
            spec, tmp_path / "site", cache=tmp_path / "shared-cache", executor=StallOnNode(executor, victim.node_id, marker),
            progress=False,
        )  # fmt: skip
    finally:
        killer.join()
        executor.close()
    assert marker.exists() and victim not in nodes.worker_nodes
    assert (report.rendered, report.units, report.retries) == (2 * CHANNELS, UNITS, 1)
    assert "; 1 unit run again (a worker or node lost" in str(report)
    assert_same_site(tmp_path / "site", local_site)


def test_a_node_that_does_not_see_the_cache_is_named(spec, cluster, tmp_path, monkeypatch):
    """The nodes started in another folder: a relative --cache is another folder for them than for the driver."""
    nodes, _workers = cluster
    monkeypatch.chdir(tmp_path)
    code, _out, err = run_cli(
        "gallery", str(spec), "-o", "site", "--executor", "ray", "--address", nodes.address, "--cache", "cache", "-q"
    )
    message = " ".join(err.split())
    assert code == 2 and "Traceback" not in err
    assert "the Ray node " in message and "cannot use the cache folder 'cache': it cannot read .vizcnn-cache-id" in message
    assert "must see the --cache folder at the same path" in message
    assert not (tmp_path / "site" / "index.html").exists()
