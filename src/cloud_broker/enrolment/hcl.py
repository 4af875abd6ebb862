"""A small writer of Terraform's HCL, laid out exactly as ``terraform fmt`` lays it out.

Why not a template: the module and the CloudFormation template must carry identical policy
documents, so both are rendered from one model; a writer that knows HCL's quoting (``${``
and ``%{`` start templates) and ``fmt``'s alignment keeps the output valid whatever strings
the operator's config holds. Only what the enrolment modules need is supported: blocks,
attributes whose values are strings, numbers, booleans, lists of strings, raw expressions
and JSON documents written as heredocs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_INDENT = "  "
_HEREDOC_MARK = "EOT"


@dataclass(frozen=True)
class Expr:
    """A Terraform expression written as is (a reference such as ``aws_iam_role.agent.arn``)."""

    text: str


@dataclass(frozen=True)
class JsonDoc:
    """A JSON document (a policy) written as an indented heredoc string."""

    document: Any


Value = str | int | bool | Expr | JsonDoc | Sequence[str]


@dataclass(frozen=True)
class Attr:
    name: str
    value: Value


@dataclass(frozen=True)
class Block:
    kind: str
    labels: tuple[str, ...] = ()
    body: tuple[Attr | Block, ...] = field(default_factory=tuple)


def render(blocks: Sequence[Block]) -> str:
    """The file's text: top-level blocks separated by one blank line, as ``fmt`` keeps them."""
    return "\n".join("\n".join(_block(block, 0)) + "\n" for block in blocks)


def quote(text: str) -> str:
    """An HCL string literal of ``text``: JSON's escapes, plus ``$${`` and ``%%{`` so that
    nothing in it is read as a template."""
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def _block(block: Block, depth: int) -> list[str]:
    pad = _INDENT * depth
    head = " ".join([block.kind, *(quote(label) for label in block.labels)])
    if not block.body:
        return [f"{pad}{head} {{}}"]
    lines = [f"{pad}{head} {{"]
    lines.extend(_body(block.body, depth + 1))
    lines.append(f"{pad}}}")
    return lines


def _body(items: tuple[Attr | Block, ...], depth: int) -> list[str]:
    lines: list[str] = []
    run: list[Attr] = []
    previous: Attr | Block | None = None
    for item in items:
        if isinstance(item, Block):
            lines.extend(_attrs(run, depth))
            run = []
            if previous is not None:
                lines.append("")
            lines.extend(_block(item, depth))
        else:
            if isinstance(previous, Block):
                lines.append("")
            run.append(item)
        previous = item
    lines.extend(_attrs(run, depth))
    return lines


def _attrs(run: list[Attr], depth: int) -> list[str]:
    """Attributes in a row: ``fmt`` aligns their ``=`` (a multi-line value ends the row)."""
    lines: list[str] = []
    group: list[Attr] = []
    for attr in run:
        group.append(attr)
        if isinstance(attr.value, JsonDoc):
            lines.extend(_aligned(group, depth))
            group = []
    lines.extend(_aligned(group, depth))
    return lines


def _aligned(group: list[Attr], depth: int) -> list[str]:
    if not group:
        return []
    pad = _INDENT * depth
    width = max(len(attr.name) for attr in group)
    lines: list[str] = []
    for attr in group:
        lead = f"{pad}{attr.name.ljust(width)} = "
        value = _value(attr.value, depth)
        lines.append(lead + value[0])
        lines.extend(value[1:])
    return lines


def _value(value: Value, depth: int) -> list[str]:
    if isinstance(value, Expr):
        return [value.text]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str):
        return [quote(value)]
    if isinstance(value, JsonDoc):
        return _heredoc(value.document, depth)
    return ["[" + ", ".join(quote(item) for item in value) + "]"]


def _heredoc(document: Any, depth: int) -> list[str]:
    # ``<<-`` strips the common indentation, so the JSON can sit indented inside its block.
    # Heredocs are templates too: ``${`` and ``%{`` are escaped by doubling their sigil.
    pad = _INDENT * (depth + 1)
    text = json.dumps(document, indent=2).replace("${", "$${").replace("%{", "%%{")
    return [f"<<-{_HEREDOC_MARK}", *(pad + line for line in text.splitlines()), f"{_INDENT * depth}{_HEREDOC_MARK}"]


def read_heredoc_json(parsed: str) -> Any:
    """The JSON document of a heredoc value as ``python-hcl2`` returns it (``"<<-EOT ... EOT"``,
    quotes included): the inverse of :class:`JsonDoc`, for checks that compare documents."""
    text = parsed.strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    head, _, rest = text.partition("\n")
    if head != f"<<-{_HEREDOC_MARK}":
        raise ValueError("not a heredoc written by cloud_broker.enrolment.hcl")
    body = rest.rsplit("\n", 1)[0]
    return json.loads(body.replace("$${", "${").replace("%%{", "%{"))
