"""Receptive fields from the traced graph (Araujo, Norris and Sim, Distill 2019).

For every node of the network's ``torch.fx`` graph this follows, per spatial
axis, the input pixels unit 0 sees (``left``, ``right``) and the distance
between neighbouring units (``jump``). A convolution or pool of kernel ``k``,
stride ``s``, padding ``p`` and dilation ``d`` maps them to
``left - p*jump``, ``right + ((k-1)*d - p)*jump`` and ``jump*s``. Where paths
meet (a residual add, an Inception concat) the unit sees the union of what
each path sees: the alignment is kept and the largest extent wins. Global
pooling, flattening onto a linear layer and attention give units that see the
whole input.

Channel gates computed from a global pool (squeeze-and-excitation) are left
out of the extent: they scale a unit by a summary of the whole image, which
would make every later unit "see everything". A network that cannot be traced
gets the chain rule along the forward order instead, marked ``exact=False``.
"""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import fx, nn

__all__ = ["ReceptiveField", "receptive_fields"]


@dataclass(frozen=True)
class ReceptiveField:
    """What one unit of a layer sees, per axis ``(height, width)``, in input pixels.

    Attributes:
        size: extent of the region one unit sees (``None`` when it sees the whole input).
        jump: input distance between neighbouring units (the effective stride).
        start: input coordinate of the centre of unit 0 (negative when padding
            puts it outside the image); unit ``i`` is centred at ``start + i * jump``.
        exact: ``False`` when the graph could not be traced (chain rule along
            the forward order) or held an operation this module does not know.
    """

    size: tuple[int, int] | None
    jump: tuple[int, int] | None
    start: tuple[float, float] | None
    exact: bool = True

    @property
    def is_global(self) -> bool:
        return self.size is None


# -- per-axis state -------------------------------------------------------------
# An axis is (left, right, jump): the input pixels unit 0 sees and the unit spacing.
_Axis = tuple[float, float, float]


@dataclass(frozen=True)
class _State:
    """A node's receptive field: two axes at tensor dims ``dims`` (``None``: sees everything)."""

    axes: tuple[_Axis, _Axis] | None
    dims: tuple[int, int] = (2, 3)
    exact: bool = True


_GLOBAL = _State(None)


def _window(axis: _Axis, k: int, s: int, p: float, d: int = 1) -> _Axis:
    left, right, jump = axis
    return left - p * jump, right + ((k - 1) * d - p) * jump, jump * s


def _union(states: Sequence[_State]) -> _State:
    exact = all(s.exact for s in states)
    if any(s.axes is None for s in states):
        return _State(None, exact=exact)
    first = states[0]
    axes = tuple(
        (min(s.axes[a][0] for s in states), max(s.axes[a][1] for s in states), max(s.axes[a][2] for s in states))
        for a in range(2)
    )
    return _State(axes, first.dims, exact)


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


# -- the graph walk -----------------------------------------------------------------
class _Tracer(fx.Tracer):
    """``torch.fx`` tracer that keeps torchvision's ops and ``math`` calls out of the graph."""

    def __init__(self) -> None:
        import math as _math

        wrap = [_math]
        try:
            import torchvision.ops

            wrap.append(torchvision.ops)
        except ImportError:  # pragma: no cover - torchvision is a dependency
            pass
        super().__init__(autowrap_modules=tuple(wrap))


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if hasattr(meta, "shape") else None


def _arg(node: fx.Node, index: int, name: str, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


class _Walk:
    """Propagates :class:`_State` through a shape-annotated graph module."""

    def __init__(self, gm: fx.GraphModule) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.state: dict[fx.Node, _State] = {}

    def run(self) -> dict[fx.Node, _State]:
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.state[node] = _State(((0, 0, 1), (0, 0, 1))) if node is placeholders[0] else None
            elif node.op in ("call_module", "call_function", "call_method"):
                self.state[node] = self.visit(node)
            else:
                self.state[node] = None
        return self.state

    def inputs(self, node: fx.Node) -> list[fx.Node]:
        return [n for n in node.all_input_nodes if self.state.get(n) is not None]

    def visit(self, node: fx.Node) -> _State | None:
        ins = self.inputs(node)
        if not ins:
            return None
        first = self.state[ins[0]]
        if first.axes is None and all(self.state[n].axes is None for n in ins):
            return _State(None, exact=all(self.state[n].exact for n in ins))
        if node.op == "call_module":
            module = self.modules[node.target]
            rule = next((r for kind, r in _MODULE_RULES if isinstance(module, kind)), None)
            if rule is not None:
                return rule(self, node, module, first)
        elif node.op == "call_function":
            rule = _FUNCTION_RULES.get(node.target)
            if rule is not None:
                return rule(self, node, first)
        elif node.op == "call_method":
            rule = _METHOD_RULES.get(node.target)
            if rule is not None:
                return rule(self, node, first)
        return self.elementwise(node, ins)

    def elementwise(self, node: fx.Node, ins: list[fx.Node]) -> _State:
        """Ops that keep the spatial dims: the union over inputs of the output's spatial size.

        Inputs broadcast along the spatial dims (a 1x1 channel gate) do not
        widen the field. An op that changes the spatial size and is not known
        here gives a whole-input field marked inexact.
        """
        out = _shape(node)
        if out is None and node.op == "call_function" and node.target is operator.getitem:
            return self.state[ins[0]]  # an item of a tuple (split, chunk)
        spatial = []
        for n in ins:
            st, shape = self.state[n], _shape(n)
            if st.axes is None:
                continue
            if shape is None or out is None or len(out) != len(shape):
                continue
            hd, wd = st.dims
            if (out[hd], out[wd]) == (shape[hd], shape[wd]):
                spatial.append(st)
            elif (shape[hd], shape[wd]) != (1, 1):
                return _State(None, exact=False)
        if not spatial:
            gates = [self.state[n] for n in ins]
            return _State(None, exact=all(g.exact for g in gates)) if out is not None else _State(None, exact=False)
        return _union(spatial)

    # rules ------------------------------------------------------------------
    def conv_like(self, st: _State, kernel, stride, padding, dilation) -> _State:
        if st.axes is None:
            return st
        if isinstance(padding, str):
            if padding == "valid":
                padding = 0
            else:  # "same": total padding (k-1)*d, the smaller half first
                k, d = _pair(kernel), _pair(dilation)
                padding = tuple(((k[i] - 1) * d[i]) // 2 for i in range(2))
        k, s, p, d = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
        axes = tuple(_window(st.axes[i], k[i], s[i], p[i], d[i]) for i in range(2))
        return _State(axes, st.dims, st.exact)

    def adaptive(self, node: fx.Node, st: _State) -> _State:
        src, out = _shape(node.all_input_nodes[0]), _shape(node)
        if st.axes is None or src is None or out is None:
            return _State(None, exact=False)
        hd, wd = st.dims
        sizes = [(src[hd], out[hd]), (src[wd], out[wd])]
        if all(m == 1 for _, m in sizes):
            return _State(None, exact=st.exact)
        axes, exact = [], st.exact
        for axis, (n, m) in zip(st.axes, sizes):
            exact = exact and n % m == 0
            k = math.ceil(n / m) + (0 if n % m == 0 else 1)
            axes.append(_window(axis, k, max(1, n // m), 0))
        return _State(tuple(axes), st.dims, exact)

    def pad(self, node: fx.Node, st: _State, pads) -> _State:
        if st.axes is None:
            return st
        pads = list(pads)
        shape = _shape(node)
        if shape is None or st.dims != (len(shape) - 2, len(shape) - 1) or len(pads) < 2:
            return _State(None, exact=False)
        w_left = pads[0]
        h_top = pads[2] if len(pads) >= 4 else 0
        (hl, hr, hj), (wl, wr, wj) = st.axes
        return _State(((hl - h_top * hj, hr - h_top * hj, hj), (wl - w_left * wj, wr - w_left * wj, wj)), st.dims, st.exact)

    def over_dims(self, node: fx.Node, st: _State, dims) -> _State:
        """An op over ``dims`` (a reduction, softmax, flatten): global when it covers a spatial dim."""
        src = _shape(node.all_input_nodes[0])
        if st.axes is None or src is None:
            return _State(None, exact=st.exact)
        ndim = len(src)
        dims = {d % ndim for d in ([dims] if isinstance(dims, int) else dims)}
        if dims & set(st.dims):
            return _State(None, exact=st.exact)
        return self.elementwise(node, self.inputs(node))

    def last_dim(self, node: fx.Node, st: _State, count: int = 1) -> _State:
        """Linear or layer norm over the last ``count`` dims."""
        src = _shape(node.all_input_nodes[0])
        if st.axes is None or src is None:
            return _State(None, exact=st.exact)
        return self.over_dims(node, st, list(range(len(src) - count, len(src))))

    def reshape(self, node: fx.Node, st: _State) -> _State:
        """A view that keeps the spatial dims (and all after them) as a suffix passes the field on."""
        src, out = _shape(node.all_input_nodes[0]), _shape(node)
        if st.axes is None or src is None or out is None:
            return _State(None, exact=st.exact)
        hd, wd = st.dims
        if wd != hd + 1:
            return _State(None, exact=st.exact)
        tail = src[hd:]
        if len(out) >= len(tail) and tuple(out[len(out) - len(tail):]) == tuple(tail):
            new_h = len(out) - len(tail)
            return _State(st.axes, (new_h, new_h + 1), st.exact)
        return _State(None, exact=st.exact)  # spatial positions mixed into one dim (tokens, flatten)

    def permute(self, node: fx.Node, st: _State, order) -> _State:
        if st.axes is None:
            return st
        order = [int(o) % len(order) for o in order]
        return _State(st.axes, (order.index(st.dims[0]), order.index(st.dims[1])), st.exact)

    def transpose(self, node: fx.Node, st: _State, a: int, b: int) -> _State:
        src = _shape(node.all_input_nodes[0])
        if st.axes is None or src is None:
            return st
        a, b = a % len(src), b % len(src)
        swap = {a: b, b: a}
        return _State(st.axes, tuple(swap.get(d, d) for d in st.dims), st.exact)


def _conv_module(w: _Walk, node, m, st):
    return w.conv_like(st, m.kernel_size, m.stride, m.padding, m.dilation)


def _pool_module(w: _Walk, node, m, st):
    return w.conv_like(st, m.kernel_size, m.stride or m.kernel_size, m.padding, getattr(m, "dilation", 1))


def _global_module(w: _Walk, node, m, st):
    return _State(None, exact=st.exact)


def _unknown_module(w: _Walk, node, m, st):
    return _State(None, exact=False)


_MODULE_RULES: list[tuple[type | tuple[type, ...], Callable]] = [
    (nn.Conv2d, _conv_module),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d), _pool_module),
    ((nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), lambda w, node, m, st: w.adaptive(node, st)),
    ((nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d), lambda w, node, m, st: w.pad(node, st, m.padding)),
    (nn.Flatten, lambda w, node, m, st: w.reshape(node, st)),
    (nn.Linear, lambda w, node, m, st: w.last_dim(node, st)),
    (nn.LayerNorm, lambda w, node, m, st: w.last_dim(node, st, len(m.normalized_shape))),
    (nn.Softmax, lambda w, node, m, st: w.over_dims(node, st, m.dim if m.dim is not None else -1)),
    (nn.MultiheadAttention, _global_module),
    ((nn.ConvTranspose2d, nn.Upsample, nn.Unfold, nn.Fold, nn.PixelShuffle, nn.PixelUnshuffle), _unknown_module),
]


def _f_conv(w: _Walk, node, st):
    weight = _shape(_arg(node, 1, "weight"))
    if weight is None:
        return _State(None, exact=False)
    return w.conv_like(
        st, weight[-2:], _arg(node, 3, "stride", 1), _arg(node, 4, "padding", 0), _arg(node, 5, "dilation", 1)
    )


def _f_pool(w: _Walk, node, st):
    k = _arg(node, 1, "kernel_size")
    return w.conv_like(st, k, _arg(node, 2, "stride", None) or k, _arg(node, 3, "padding", 0), _arg(node, 4, "dilation", 1))


def _f_avg_pool(w: _Walk, node, st):
    k = _arg(node, 1, "kernel_size")
    return w.conv_like(st, k, _arg(node, 2, "stride", None) or k, _arg(node, 3, "padding", 0), 1)


def _reduce(w: _Walk, node, st):
    dims = _arg(node, 1, "dim", None)
    src = _shape(node.all_input_nodes[0])
    if dims is None and src is not None:
        dims = list(range(len(src)))
    if dims is None:
        return _State(None, exact=st.exact)
    return w.over_dims(node, st, dims)


def _flatten(w: _Walk, node, st):
    return w.reshape(node, st)


def _transpose(w: _Walk, node, st):
    return w.transpose(node, st, int(_arg(node, 1, "dim0")), int(_arg(node, 2, "dim1")))


def _permute(w: _Walk, node, st):
    order = node.args[1:] if node.op == "call_method" else _arg(node, 1, "dims")
    if len(order) == 1 and isinstance(order[0], (tuple, list)):
        order = order[0]
    return w.permute(node, st, order)


def _f_pad(w: _Walk, node, st):
    return w.pad(node, st, _arg(node, 1, "pad"))


def _unknown(w: _Walk, node, st):
    return _State(None, exact=False)


_FUNCTION_RULES: dict[Callable, Callable] = {
    torch.conv2d: _f_conv,
    nn.functional.conv2d: _f_conv,
    nn.functional.max_pool2d: _f_pool,
    torch.max_pool2d: _f_pool,
    nn.functional.avg_pool2d: _f_avg_pool,
    nn.functional.adaptive_avg_pool2d: lambda w, node, st: w.adaptive(node, st),
    nn.functional.adaptive_max_pool2d: lambda w, node, st: w.adaptive(node, st),
    torch.flatten: _flatten,
    torch.reshape: lambda w, node, st: w.reshape(node, st),
    torch.mean: _reduce,
    torch.sum: _reduce,
    torch.amax: _reduce,
    torch.softmax: lambda w, node, st: w.over_dims(node, st, _arg(node, 1, "dim", -1)),
    nn.functional.softmax: lambda w, node, st: w.over_dims(node, st, _arg(node, 1, "dim", -1)),
    nn.functional.linear: lambda w, node, st: w.last_dim(node, st),
    nn.functional.layer_norm: lambda w, node, st: w.last_dim(node, st, len(_pair(_arg(node, 1, "normalized_shape")))),
    nn.functional.pad: _f_pad,
    torch.transpose: _transpose,
    torch.permute: _permute,
    nn.functional.interpolate: _unknown,
    nn.functional.scaled_dot_product_attention: lambda w, node, st: _State(None, exact=st.exact),
    torch.roll: _unknown,
}

_aten = torch.ops.aten
_FUNCTION_RULES.update({  # exported programs (.pt2) keep these as ATen operators
    _aten.flatten.using_ints: _flatten,
    _aten.view.default: lambda w, node, st: w.reshape(node, st),
    _aten.reshape.default: lambda w, node, st: w.reshape(node, st),
    _aten.mean.dim: _reduce,
    _aten.permute.default: _permute,
    _aten.transpose.int: _transpose,
})

_METHOD_RULES: dict[str, Callable] = {
    "view": lambda w, node, st: w.reshape(node, st),
    "reshape": lambda w, node, st: w.reshape(node, st),
    "flatten": _flatten,
    "mean": _reduce,
    "sum": _reduce,
    "amax": _reduce,
    "softmax": lambda w, node, st: w.over_dims(node, st, _arg(node, 1, "dim", -1)),
    "permute": _permute,
    "transpose": _transpose,
    "roll": _unknown,
}


# -- the public entry ---------------------------------------------------------
def _first_runs(gm: fx.GraphModule) -> dict[str, fx.Node]:
    """For each module path, the last node of its first call (the node whose output is the module's)."""
    found: dict[str, fx.Node] = {}
    closed: set[str] = set()
    active: set[str] = set()
    for node in gm.graph.nodes:
        stack = set(node.meta.get("nn_module_stack", {}) or {})
        if node.op == "call_module":
            stack.add(node.target)
        for path in active - stack:
            closed.add(path)
        for path in stack:
            if path not in closed:
                found[path] = node
        active = stack
    return found


def _to_field(st: _State | None, exact: bool = True) -> ReceptiveField:
    if st is None or st.axes is None:
        return ReceptiveField(None, None, None, exact and (st is None or st.exact))
    size = tuple(round(r - l + 1) for l, r, _ in st.axes)
    jump = tuple(round(j) for _, _, j in st.axes)
    start = tuple((l + r) / 2 for l, r, _ in st.axes)
    return ReceptiveField(size, jump, start, exact and st.exact)


def _traced(net: nn.Module, input_shape: tuple[int, ...]) -> dict[str, ReceptiveField]:
    from torch.export.unflatten import UnflattenedModule
    from torch.fx.passes.shape_prop import ShapeProp

    root = net
    if isinstance(net, UnflattenedModule):  # a .pt2 file: its own graph takes flat inputs
        root = fx.GraphModule(net, net.graph)
    gm = fx.GraphModule(root, _Tracer().trace(root))
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    x = torch.zeros(1, *input_shape, device=device)
    with torch.no_grad():
        try:  # shapes only: fake tensors skip the arithmetic
            from torch._subclasses.fake_tensor import FakeTensorMode

            ShapeProp(gm, fake_mode=FakeTensorMode(allow_non_fake_inputs=True)).propagate(x)
        except Exception:  # noqa: BLE001 - an op fake tensors do not support: run it for real
            ShapeProp(gm).propagate(x)
    states = _Walk(gm).run()
    return {path: _to_field(states.get(node)) for path, node in _first_runs(gm).items()}


def _chain(order: Sequence[tuple[str, nn.Module, tuple[int, ...]]]) -> dict[str, ReceptiveField]:
    """Today's rule for graphs that cannot be traced: every window in forward order, one after the other."""
    st = _State(((0, 0, 1), (0, 0, 1)), exact=False)
    out: dict[str, ReceptiveField] = {}
    for path, module, shape in order:
        kind = getattr(module, "original_name", type(module).__name__)
        if kind in ("Linear", "Flatten") or kind.startswith("Adaptive") and shape and tuple(shape[-2:]) == (1, 1):
            st = _State(None, exact=False)
        elif kind == "Conv2d" or kind in ("MaxPool2d", "AvgPool2d"):
            stride = getattr(module, "stride", None) or module.kernel_size
            st = _State(
                tuple(_window(a, k, s, p, d) for a, k, s, p, d in zip(
                    st.axes, _pair(module.kernel_size), _pair(stride), _pair(module.padding),
                    _pair(getattr(module, "dilation", 1)),
                )),
                exact=False,
            ) if st.axes is not None and not isinstance(module.padding, str) else _State(None, exact=False)  # fmt: skip
        out[path] = _to_field(st, exact=False)
    return out


def receptive_fields(
    net: nn.Module, input_shape: tuple[int, ...], order: Sequence[tuple[str, nn.Module, tuple[int, ...]]] | None = None
) -> dict[str, ReceptiveField]:
    """The receptive field of every module's output, by module path.

    Args:
        net: the network (eval mode).
        input_shape: ``(C, H, W)`` of one input.
        order: :func:`~vizcnn.models.layers.forward_order` of ``net``, used
            only for the chain-rule fallback (computed when needed).

    Returns:
        ``{path: ReceptiveField}``; every entry has ``exact=False`` when the
        graph could not be traced.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be an nn.Module, not {type(net).__name__}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    if not isinstance(net, torch.jit.ScriptModule):
        with contextlib.suppress(Exception):  # any tracing failure (dynamic control flow, custom ops): the chain rule
            return _traced(net, tuple(input_shape))
    if order is None:
        from .layers import forward_order

        order = forward_order(net, tuple(input_shape))
    return _chain(order)
