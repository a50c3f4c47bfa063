"""`ilpnet decode`: say what some bytes are (ILP, ILDCP, CCP, BTP, STREAM) and show them."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from ilpnet.crypto.stream_describe import describe_with_secret
from ilpnet.wire.describe import Description, UnrecognisedBytes, bytes_from_text, describe
from ilpnet.wire.errors import InvalidValueError

HEX_SHOWN = 128
"""Hex digits shown of a long byte field in the readable view (--json shows all)."""

_HEX = frozenset("0123456789abcdef")


def _fail(message: str) -> click.ClickException:
    """One line on stderr, exit status 1."""
    return click.ClickException(" ".join(message.split()))


@click.command()
@click.argument("packet", metavar="HEX_OR_BASE64")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every field.")
@click.option(
    "--secret",
    metavar="HEX_OR_BASE64",
    help="STREAM shared secret: also decrypt the STREAM packet in the ILP packet's data.",
)
def decode(packet: str, as_json: bool, secret: str | None) -> None:
    """Say what the bytes HEX_OR_BASE64 are and show every field.

    Recognises ILP Prepare, Fulfill and Reject, ILDCP and CCP (carried in ILP packets, or
    their bare payloads), and BTP packets (with the ILP packets inside them). Text that is
    valid hex is read as hex, anything else as base64 (standard or URL-safe). Give `-` to
    read the text from standard input. Exit status 1 when nothing can read the bytes.
    """
    text = sys.stdin.read() if packet == "-" else packet
    try:
        raw, read_as = bytes_from_text(text)
    except InvalidValueError as exc:
        raise _fail(exc.message) from None
    shared_secret: bytes | None = None
    if secret is not None:
        try:
            shared_secret, _ = bytes_from_text(secret)
        except InvalidValueError as exc:
            raise _fail(f"--secret: {exc.message}") from None
    try:
        if shared_secret is None:
            description = describe(raw)
        else:
            description = describe_with_secret(raw, shared_secret)
    except UnrecognisedBytes as exc:
        what = f"cannot decode {len(raw)} bytes (read as {read_as})"
        raise _fail(f"{what}: {exc.summary()}") from None
    if as_json:
        click.echo(json.dumps(description.to_json(), ensure_ascii=False))
    else:
        Console(highlight=False).print(render(description))


# ---- the readable view -----------------------------------------------------------------


def render(description: Description) -> Tree:
    """The description as a tree: fields, nested packets and payloads, notes."""
    tree = Tree(f"[bold cyan]{escape(description.title)}[/]")
    _add_fields(tree, description.fields)
    for note in description.notes:
        tree.add(f"[dim]note: {escape(note)}[/]")
    return tree


def _scalar(value: Any) -> str:
    if value is None:
        return "[dim]none[/]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if value == "":
            return "[dim](empty)[/]"
        if len(value) > HEX_SHOWN and len(value) % 2 == 0 and _HEX.issuperset(value):
            return f"{value[:HEX_SHOWN]}… [dim]({len(value) // 2} bytes)[/]"
        return escape(value)
    return escape(str(value))


def _label(key: str, item: dict[str, Any]) -> str:
    """A heading for a nested object: its title, frame name or protocol name if it has one."""
    for name in ("title", "name", "protocolName"):
        if isinstance(item.get(name), str):
            return f"[bold]{escape(key)}[/] {escape(item[name])}"
    return f"[bold]{escape(key)}[/]"


def _add_fields(node: Tree, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if key in ("kind", "title"):
            continue
        if key == "notes" and isinstance(value, list):
            for note in value:
                node.add(f"[dim]note: {escape(str(note))}[/]")
        elif isinstance(value, dict):
            _add_fields(node.add(_label(key, value)), value)
        elif isinstance(value, list):
            branch = node.add(f"[bold]{escape(key)}[/] [dim]({len(value)})[/]")
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _add_fields(branch.add(_label(f"[{i}]", item)), item)
                else:
                    branch.add(_scalar(item))
        else:
            node.add(f"[bold]{escape(key)}[/]: {_scalar(value)}")
