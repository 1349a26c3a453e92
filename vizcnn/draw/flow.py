"""The flow diagram of :class:`vizcnn.flow.Flow` as an SVG inside a self-contained page.

Three columns (layer A's nodes, layer B's, the classes); each node shows its
feature visualization and its spatial mask over the image; edge widths are
proportional to the attribution flowing along them (green supports, red
opposes). Every node and edge is focusable and carries its numbers in a
``<title>``; the same numbers are in tables below the diagram.
"""

from __future__ import annotations

from PIL import Image

from .figure import overlay
from .html import data_uri, render_template

__all__ = ["flow_page"]

NODE_W, NODE_H, GAP, COLUMN = 150, 104, 14, 330


def _tile(image: Image.Image, size: int = 64) -> str:
    resample = Image.NEAREST if max(image.size) <= 64 else Image.BILINEAR
    return data_uri(image.convert("RGB").resize((size, size), resample))


def _column(nodes, x: int, height: int, layer: str, flow, view: Image.Image) -> list[dict]:
    top = (height - len(nodes) * (NODE_H + GAP) + GAP) // 2
    out = []
    for i, n in enumerate(nodes):
        feature = flow.features.get((layer, n.label))
        out.append({
            "x": x, "y": top + i * (NODE_H + GAP), "label": n.label, "value": n.attribution,
            "feature": _tile(feature) if feature is not None else None,
            "mask": _tile(overlay(view.resize((64, 64), Image.NEAREST), n.mask, alpha=0.6, cmap="magma")),
        })  # fmt: skip
    return out


def _edge(a: dict, b: dict, value: float, vmax: float, dx: int = NODE_W) -> dict:
    x1, y1 = a["x"] + dx, a["y"] + NODE_H / 2
    x2, y2 = b["x"], b["y"] + NODE_H / 2
    mid = (x1 + x2) / 2
    return {
        "d": f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}",
        "width": 0.5 + 12 * abs(value) / vmax, "sign": "pos" if value >= 0 else "neg",
        "value": value, "source": a["label"], "target": b["label"],
    }  # fmt: skip


def flow_page(flow, *, title: str | None = None, css_href: str | None = None) -> str:
    """The page for ``flow`` (a :class:`vizcnn.flow.Flow`)."""
    n = max(len(flow.nodes_a), len(flow.nodes_b), len(flow.classes))
    height = n * (NODE_H + GAP) + 40
    view = flow.image.convert("RGB")
    col_a = _column(flow.nodes_a, 10, height, flow.layer_a, flow, view)
    col_b = _column(flow.nodes_b, 10 + COLUMN, height, flow.layer_b, flow, view)
    top = (height - len(flow.classes) * (NODE_H + GAP) + GAP) // 2
    col_c = [{"x": 10 + 2 * COLUMN, "y": top + i * (NODE_H + GAP), "label": c} for i, c in enumerate(flow.classes)]
    vmax = max(float(flow.edges.abs().max()), float(flow.to_classes.abs().max()), 1e-12)
    edges = [_edge(col_a[i], col_b[j], float(flow.edges[i, j]), vmax) for i in range(len(col_a)) for j in range(len(col_b))]
    edges += [_edge(col_b[j], col_c[k], float(flow.to_classes[j, k]), vmax)
              for j in range(len(col_b)) for k in range(len(col_c))]  # fmt: skip
    edges.sort(key=lambda e: e["width"])  # thick edges on top
    return render_template(
        "flow.html", title=title or f"{flow.model}: {flow.layer_a} → {flow.layer_b} → {flow.label}",
        flow=flow, width=10 + 2 * COLUMN + NODE_W + 10, height=height, node_w=NODE_W, node_h=NODE_H,
        col_a=col_a, col_b=col_b, col_c=col_c, edges=edges, image=_tile(view, 160),
        edge_rows=[[float(v) for v in row] for row in flow.edges], class_rows=[[float(v) for v in row] for row in flow.to_classes],
        css_href=css_href,
    )  # fmt: skip
