"""Drawing, the lowest floor: PNG figures that show themselves in Jupyter, and HTML templating."""

from .figure import (
    DIVERGING,
    NEGATIVE,
    POSITIVE,
    SEQUENTIAL,
    PNGResult,
    colorbar,
    colorize,
    figure_to_image,
    image_grid,
    overlay,
    to_uint8,
)

__all__ = [
    "DIVERGING",
    "NEGATIVE",
    "POSITIVE",
    "SEQUENTIAL",
    "PNGResult",
    "colorbar",
    "colorize",
    "figure_to_image",
    "image_grid",
    "overlay",
    "to_uint8",
]
