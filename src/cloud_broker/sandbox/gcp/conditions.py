"""Availability conditions of access boundary rules: CEL, checked and evaluated by cel-python.

Google evaluates a rule's ``availabilityCondition.expression`` (CEL) on every Cloud
Storage request a downscoped token makes; the rule applies only when it is true, and
an expression that fails to evaluate counts as false. The double does the same with
``celpy``, against these attributes:

- ``resource.name``: ``projects/_/buckets/B`` or ``projects/_/buckets/B/objects/O``;
- ``resource.type``: ``storage.googleapis.com/Bucket`` or ``storage.googleapis.com/Object``;
- ``resource.service``: ``storage.googleapis.com``;
- ``api.getAttribute('storage.googleapis.com/objectListPrefix', default)``: the ``prefix``
  of an objects.list call (``default`` elsewhere).

Narrower than Google: only those attributes exist (no ``request.time``, no
``resource.tags``, no other ``api`` attributes); the functions are CEL's string functions
(``startsWith``, ``endsWith``, ``contains``, ``matches``, ``size``), conversions
(``string``, ``int``, ``bool``) and IAM's ``extract``; macros (``exists``, ``all``, ...)
are refused. An expression is checked when it is submitted: it must parse, name only
those attributes and functions, stay within 2,048 characters, and yield a bool on a
sample bucket and object (Google's checker is a real type checker; this one is a trial).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParseError

MAX_EXPRESSION_LENGTH = 2048
SERVICE = "storage.googleapis.com"
BUCKET_TYPE = "storage.googleapis.com/Bucket"
OBJECT_TYPE = "storage.googleapis.com/Object"
OBJECT_LIST_PREFIX = "storage.googleapis.com/objectListPrefix"

_VARIABLES = frozenset({"resource", "api"})
_RESOURCE_FIELDS = frozenset({"name", "type", "service"})
_METHODS = frozenset({"startsWith", "endsWith", "contains", "matches", "size", "extract", "getAttribute"})
_FUNCTIONS = frozenset({"size", "string", "int", "bool"})


class InvalidCondition(ValueError):
    """The expression is not one the double (or Google) would accept; the message says why."""


@dataclass(frozen=True)
class RequestAttributes:
    """What a condition may look at for one request."""

    resource_name: str
    resource_type: str
    api_attributes: Mapping[str, str] = field(default_factory=dict)

    def activation(self) -> dict[str, Any]:
        resource = {"name": self.resource_name, "type": self.resource_type, "service": SERVICE}
        return {"resource": _cel_map(resource), "api": _cel_map(dict(self.api_attributes))}


_SAMPLES = (
    RequestAttributes("projects/_/buckets/sample", BUCKET_TYPE, {OBJECT_LIST_PREFIX: "sample/"}),
    RequestAttributes("projects/_/buckets/sample/objects/sample/object", OBJECT_TYPE),
)


class Condition:
    """A checked, compiled availability condition. Raises InvalidCondition on construction."""

    def __init__(self, expression: str) -> None:
        if not expression.strip():
            raise InvalidCondition("the condition expression is empty")
        if len(expression) > MAX_EXPRESSION_LENGTH:
            raise InvalidCondition(f"the condition expression exceeds {MAX_EXPRESSION_LENGTH} characters")
        environment = celpy.Environment()
        try:
            ast = environment.compile(expression)
        except CELParseError as exc:
            raise InvalidCondition("the condition expression is not valid CEL") from exc
        _check_names(ast)
        self.expression = expression
        self._program = environment.program(ast, functions={"getAttribute": _get_attribute, "extract": _extract})
        for sample in _SAMPLES:
            if self._evaluate(sample) is None:
                raise InvalidCondition("the condition expression does not evaluate to a bool")

    def holds(self, attributes: RequestAttributes) -> bool:
        """True only if the expression evaluates to true; an evaluation error is false, as at Google."""
        return self._evaluate(attributes) is True

    def _evaluate(self, attributes: RequestAttributes) -> bool | None:
        try:
            result = self._program.evaluate(attributes.activation())
        except Exception:  # noqa: BLE001 -- celpy raises CELEvalError, and plain errors on odd input: all are false
            return None
        return bool(result) if isinstance(result, celtypes.BoolType) else None


def _check_names(ast: lark.Tree[Any]) -> None:
    for node in ast.iter_subtrees():
        if node.data == "ident":
            _require(str(node.children[0]) in _VARIABLES, f"unknown attribute {node.children[0]!s}")
        elif node.data == "ident_arg":
            _require(str(node.children[0]) in _FUNCTIONS, f"unsupported function {node.children[0]!s}")
        elif node.data == "member_dot":
            root, name = _root_ident(node.children[0]), str(node.children[1])
            _require(root != "api", "api has no fields; use api.getAttribute(name, default)")
            _require(root != "resource" or name in _RESOURCE_FIELDS, f"unknown attribute resource.{name}")
        elif node.data == "member_dot_arg":
            root, method = _root_ident(node.children[0]), str(node.children[1])
            _require(method in _METHODS, f"unsupported function {method}")
            _require((root == "api") == (method == "getAttribute"), "getAttribute applies to api, and only it")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidCondition(message)


def _root_ident(tree: Any) -> str | None:
    # member -> primary -> ident -> IDENT, when the receiver is a bare variable.
    while isinstance(tree, lark.Tree) and tree.data in ("member", "primary") and len(tree.children) == 1:
        tree = tree.children[0]
    if isinstance(tree, lark.Tree) and tree.data == "ident":
        return str(tree.children[0])
    return None


def _cel_map(values: Mapping[str, str]) -> celtypes.MapType:
    return celtypes.MapType({celtypes.StringType(k): celtypes.StringType(v) for k, v in values.items()})


def _get_attribute(api: celtypes.MapType, name: celtypes.StringType, default: Any) -> Any:
    return api.get(celtypes.StringType(name), default)


def _extract(value: celtypes.StringType, template: celtypes.StringType) -> celtypes.StringType:
    """IAM's ``extract``: the part of ``value`` that the template's one ``{var}`` covers, or ''."""
    head, brace, rest = str(template).partition("{")
    _var, close, tail = rest.partition("}")
    if not brace or not close or "{" in tail:
        raise ValueError("extract needs a template with exactly one {variable}")
    text = str(value)
    start = text.find(head)
    if start < 0:
        return celtypes.StringType("")
    start += len(head)
    end = text.find(tail, start) if tail else len(text)
    return celtypes.StringType(text[start:end] if end >= 0 else "")
