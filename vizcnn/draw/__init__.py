"""Drawing, the lowest floor: PNG figures that show themselves in Jupyter, and HTML templating."""

from .figure import PNGResult, figure_to_image, image_grid, overlay, to_uint8

__all__ = ["PNGResult", "figure_to_image", "image_grid", "overlay", "to_uint8"]
