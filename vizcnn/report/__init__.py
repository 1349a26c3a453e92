"""Drawing and publishing: figures that show themselves in Jupyter, HTML reports and galleries."""

from .figure import PNGResult, figure_to_image, image_grid, overlay, to_uint8

__all__ = ["PNGResult", "figure_to_image", "image_grid", "overlay", "to_uint8"]
