"""vizcnn: see what a convolutional network has learned.

    >>> import vizcnn
    >>> model = vizcnn.load_model("mnist-cnn")
    >>> model.layer("conv1").module
    Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=False)
"""

__version__ = "0.1.0"

from .errors import VizcnnError, WeightsNotFoundError  # noqa: E402
from .models import Model, list_models, load_model  # noqa: E402
from . import activations, evaluate, examples, filters, lesson  # noqa: E402  (vizcnn.filters.plot, vizcnn.lesson.conv_demo, ...)

__all__ = [
    "Model", "VizcnnError", "WeightsNotFoundError", "__version__", "activations", "evaluate", "examples", "filters",
    "lesson", "list_models", "load_model",
]  # fmt: skip
