"""Inspect a saved model archive before torch opens it, so that opening a file never runs code.

``torch.export.load`` unpickles an exported program's sample inputs with a
fallback to the full unpickler, unpickles weights and constants marked
``use_pickle`` (and "opaque" constants) with it, hands every symbolic shape
expression to ``sympy.sympify`` (which evaluates Python), and resolves graph
node targets by attribute lookup from the ``torch`` module (``torch.os.system``
resolves). :func:`vet_exported` reads the archive's members and refuses, with
one error naming the member, anything of that kind; what it lets through is
raw tensor data, JSON, operators registered with torch, and sample inputs that
load with ``weights_only=True``. TorchScript archives are unpickled by torch's
C++ unpickler, which builds only torch's own types; :func:`vet_torchscript`
still refuses a pickle naming any other Python global, so the refusal is one
clear sentence instead of a C++ error.

Both work on the bytes read once from disk; the caller hands the same bytes to
torch, so the file cannot change between the check and the load.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import VizcnnError

__all__ = ["vet_exported", "vet_torchscript"]

#: Members of an exported-program archive that hold no code: metadata, raw tensor bytes, extra text files.
_PLAIN = re.compile(
    r"^(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|data/weights/weight_\d+|data/constants/tensor_\d+|extra/.+)$"
)
_MODEL = re.compile(r"^models/([^/]+)\.json$")
_CONFIG = re.compile(r"^data/(weights|constants)/([^/]+)_(weights|constants)_config\.json$")
_SAMPLE = re.compile(r"^data/sample_inputs/([^/]+)\.pt$")
_WHAT_TO_DO = (
    "vizcnn opens only exported programs whose weights, constants and sample inputs are plain tensors "
    "(what torch.export.save writes for an ordinary network): export the model again from its Python code, "
    "or give that code as module.path:callable with --weights FILE."
)

#: Identifiers a shape expression may use besides symbol names such as ``s0`` or ``u3``.
_SYMPY_NAMES = {
    "Max", "Min", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "Abs", "Mod", "Piecewise", "floor",
    "ceiling", "oo", "zoo", "nan", "True", "False", "Integer", "Rational", "Float", "FloorDiv", "ModularIndexing",
    "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural",
    "FloatPow", "FloatTrueDiv", "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
    "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "BitwiseFn_bitwise_and", "BitwiseFn_bitwise_or",
    # sympy's srepr form, Symbol('s77', positive=True, integer=True), and the assumptions it names
    "Symbol", "Add", "Mul", "Pow", "positive", "negative", "nonnegative", "nonpositive", "integer", "real",
    "finite", "zero", "nonzero", "even", "odd", "rational", "commutative",
}  # fmt: skip
_SYMBOL_NAME = re.compile(r"'[a-z]{1,3}\d{1,6}'")
_SYMBOL = re.compile(r"^[a-z]{1,3}\d{1,6}$")
_EXPR_CHARS = re.compile(r"^[A-Za-z0-9_+\-*/%(),.<>=! ]{1,400}$")


def _refuse(path: Path, member: str, why: str) -> VizcnnError:
    return VizcnnError(f"{str(path)!r} was not opened: its member {member!r} {why}. {_WHAT_TO_DO}")


def _members(path: Path, data: bytes) -> dict[str, str]:
    """The archive's members by their name inside its top folder (torch writes every member under one)."""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise VizcnnError(f"{str(path)!r} is not a readable zip archive ({exc}); save the model again.") from None
    return {n.split("/", 1)[1] if "/" in n else n: n for n in names}


def vet_exported(path: Path, data: bytes) -> None:
    """Refuse an exported-program archive (``.pt2``) holding anything ``torch.export.load`` would run as code."""
    members = _members(path, data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    if "archive_format" not in members:
        raise VizcnnError(
            f"{str(path)!r} is an exported program in the format of torch 2.7 or older, whose weights and "
            f"inputs are pickles that torch loads with the full unpickler. {_WHAT_TO_DO}"
        )
    for rel, full in members.items():
        if rel.endswith("/") or _PLAIN.match(rel):
            continue
        if _MODEL.match(rel):
            _vet_program(path, rel, _json(path, rel, archive.read(full)))
        elif _CONFIG.match(rel):
            _vet_payload_config(path, rel, _json(path, rel, archive.read(full)))
        elif _SAMPLE.match(rel):
            _vet_weights_only(path, rel, archive.read(full))
        else:
            raise _refuse(path, rel, "is not part of a plain exported program (a pickle, compiled code or an unknown file)")


def _json(path: Path, member: str, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(path, member, f"is not valid JSON ({exc})") from None


def _vet_payload_config(path: Path, member: str, config: Any) -> None:
    """Weights and constants must be raw tensor bytes: no ``use_pickle`` entry, no custom or opaque object."""
    folder = member.split("/")[1]
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _refuse(path, member, "does not describe the tensors of the archive")
    for fqn, meta in entries.items():
        file = meta.get("path_name") if isinstance(meta, dict) else None
        if not isinstance(file, str) or not _PLAIN.match(f"data/{folder}/{file}"):
            raise _refuse(path, f"data/{folder}/{file}", f"holds {fqn!r} as a pickled Python object, not as tensor bytes")
        if meta.get("use_pickle"):
            raise _refuse(path, f"data/{folder}/{file}", f"holds {fqn!r} as a pickle (use_pickle), which torch loads with the full unpickler")


def _vet_weights_only(path: Path, member: str, raw: bytes) -> None:
    """Sample inputs: torch tries ``weights_only=True`` first; refuse what would need the fallback."""
    import torch

    try:
        torch.load(io.BytesIO(raw), weights_only=True)
    except Exception as exc:  # the weights-only unpickler raises UnpicklingError, RuntimeError, ...
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise _refuse(path, member, f"is a pickle that does not load with weights_only=True ({first})") from None


def _walk(node: Any) -> Iterator[tuple[dict, str, Any]]:
    """Every (table, key, value) of a JSON document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _vet_program(path: Path, member: str, program: Any) -> None:
    """Every graph target is a registered torch operator, every shape expression plain arithmetic."""
    for table, key, value in _walk(program):
        called = key == "as_operator" or (key == "target" and "inputs" in table)  # a graph node's target
        if called and isinstance(value, str) and not _is_operator(value):
            raise _refuse(path, member, f"calls {value!r}, which is not a torch operator")
        if key == "expr_str" and isinstance(value, str) and not _is_shape_expr(value):
            raise _refuse(path, member, f"has the shape expression {value[:80]!r}, which is not plain arithmetic")


def _is_operator(name: str) -> bool:
    """Whether ``name`` resolves, as torch's deserializer resolves it, to an operator torch registered."""
    import torch

    parts = name.split(".")
    if parts[0] not in ("torch", "_operator", "math") or not all(p.isidentifier() and not p.startswith("__") for p in parts):
        return False
    if parts[:2] == ["torch", "ops"]:
        target: Any = torch
        for part in parts[1:]:
            target = getattr(target, part, None)
            if target is None:
                return True  # torch itself reports an operator it does not know
        return isinstance(target, (torch._ops.OpOverload, torch._ops.HigherOrderOperator)) and "from_file" not in name
    from torch._export.serde import serialize

    modules = {"torch": torch, "_operator": __import__("operator"), "math": __import__("math")}
    target = modules[parts[0]]
    for part in parts[1:]:
        if not hasattr(target, part):
            return True  # left a string by torch, which then refuses the node
        target = getattr(target, part)
    try:
        return target in getattr(serialize, "_SYM_OPS", ())
    except TypeError:  # an unhashable attribute: not an operator
        return False


def _is_shape_expr(text: str) -> bool:
    """A sympy expression of symbols, integers, arithmetic and the functions torch's shape code uses."""
    text = _SYMBOL_NAME.sub("s0", text)  # quoted symbol names are the only strings allowed
    if not _EXPR_CHARS.match(text) or re.search(r"[A-Za-z_]\s*\.|\.\s*[A-Za-z_]|\*\*\s*(?!\d{1,2}\b)|\d{20}", text):
        return False
    return all(w in _SYMPY_NAMES or _SYMBOL.match(w) for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def vet_torchscript(path: Path, data: bytes) -> None:
    """Refuse a TorchScript archive (``.pt``) whose pickles name Python globals other than torch's own."""
    members = _members(path, data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    for rel, full in members.items():
        if not rel.endswith(".pkl") and not rel.endswith(".debug_pkl"):
            continue
        for module, name in _globals(archive.read(full)):
            if module is None:
                raise VizcnnError(
                    f"{str(path)!r} was not opened: its member {rel!r} is not a pickle torch can read (a truncated "
                    "or damaged file). Is it a complete file written by torch.jit.save? Save the model again."
                )
            if module.split(".")[0] not in ("__torch__", "torch") and (module, name) != ("collections", "OrderedDict"):
                raise VizcnnError(
                    f"{str(path)!r} was not opened: its member {rel!r} is a pickle that calls the Python function "
                    f"{module}.{name}, which a TorchScript file has no use for; a crafted file does this to run code. "
                    "Save the model again with torch.jit.save, or use torch.export.save (.pt2)."
                )


def _globals(raw: bytes) -> Iterator[tuple[str | None, str | None]]:
    """The (module, name) of every global a pickle references; (None, None) for a stream that does not parse."""
    try:
        ops = list(pickletools.genops(raw))
    except Exception:  # pickletools raises ValueError and others on damaged streams
        yield None, None
        return
    strings: list[Any] = []
    for op, arg, _pos in ops:
        if op.name in ("GLOBAL", "INST"):
            module, _, name = str(arg).partition(" ")
            yield module, name
        elif op.name == "STACK_GLOBAL":
            yield (str(strings[-2]), str(strings[-1])) if len(strings) >= 2 else (None, None)
        if isinstance(arg, str):
            strings.append(arg)
