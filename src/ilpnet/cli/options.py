"""Options several commands share, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

LOG_LEVELS = ("debug", "info", "warning", "error")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def log_level_option(default: str) -> Decorator:
    """`--log-level`: library log lines (JSON, on stderr) at this level and above."""
    return click.option(
        "--log-level",
        type=click.Choice(LOG_LEVELS),
        default=default,
        show_default=True,
        help="Library log lines (JSON, on stderr) at this level and above.",
    )


def connect_timeout_option(default: float) -> Decorator:
    """`--connect-timeout`: how long to wait for the connector to accept us."""
    return click.option(
        "--connect-timeout",
        type=click.FloatRange(min=0.1),
        default=default,
        show_default=True,
        help="Give up when the connector does not accept us within this many seconds.",
    )
