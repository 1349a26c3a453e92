"""Static HTML galleries, the top floor: a spec, work units, executors (local, Ray) and the site writer.

    >>> report = build_gallery("galleries/mnist.toml", "site")
    >>> report.pages, report.rendered, report.reused
"""

from .executors import EXECUTORS, Executor, LocalExecutor, get_executor
from .site import BuildReport, build_gallery
from .spec import GallerySpec, load_spec, parse_spec
from .units import WorkUnit, run_unit

__all__ = [
    "EXECUTORS", "BuildReport", "Executor", "GallerySpec", "LocalExecutor", "WorkUnit",
    "build_gallery", "get_executor", "load_spec", "parse_spec", "run_unit",
]  # fmt: skip
