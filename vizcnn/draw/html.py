"""HTML output: one Jinja2 environment with autoescaping, shared by reports and galleries.

Everything that came from input (labels, class names, file names, spec text)
passes through autoescaping; templates never mark input ``|safe``.
"""

from __future__ import annotations

import base64
import io
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from PIL import Image

__all__ = ["render_template", "data_uri", "iframe", "json_script", "script", "stylesheet", "with_crumbs"]

_ENV = Environment(
    loader=PackageLoader("vizcnn.draw", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def stylesheet() -> str:
    """The one CSS file every page uses (linked by galleries, inlined by single reports)."""
    return (resources.files("vizcnn.draw") / "static" / "style.css").read_text(encoding="utf-8")


def script(name: str) -> Markup:
    """Our own small JavaScript file ``static/<name>``, for inlining into a page (never input)."""
    return Markup((resources.files("vizcnn.draw") / "static" / name).read_text(encoding="utf-8"))


def iframe(page: str, height: int = 720) -> str:
    """A full page inside an iframe (Jupyter), so its stylesheet and script cannot touch the notebook."""
    import html

    return f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{height}px;border:0"></iframe>'


def json_script(data) -> Markup:
    """``data`` as JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` become escapes.

    The page's script reads it back with ``JSON.parse(el.textContent)``, so no
    string from input can close the script element or start markup.
    """
    import json

    text = json.dumps(data, separators=(",", ":"), allow_nan=False)  # ASCII only: U+2028 arrives escaped
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(ch, esc)
    return Markup(text)


def render_template(name: str, **context) -> str:
    """Render ``templates/<name>``. Pass ``css_href`` to link the stylesheet, else it is inlined."""
    context.setdefault("css_href", None)
    if context["css_href"] is None:
        context.setdefault("inline_css", stylesheet())
    else:
        context.setdefault("inline_css", None)
    return _ENV.get_template(name).render(**context)


def data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    """An image as a ``data:`` URI, for self-contained single-file reports."""
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def with_crumbs(page: str, home: str, href: str, here: str) -> str:
    """``page`` with a breadcrumb line (``home`` linked to ``href`` > ``here``) at the top of its body, for a
    self-contained page placed in a gallery; styled inline, since such a page carries its own stylesheet."""
    nav = (
        f'<nav class="crumbs" style="font: 13px system-ui, sans-serif; margin: 8px 16px">'
        f'<a href="{escape(href)}">{escape(home)}</a> › {escape(here)}</nav>'
    )
    head, sep, rest = page.partition("<body>")
    return f"{head}{sep}\n{nav}{rest}" if sep else nav + page
