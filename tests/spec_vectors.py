"""Loads the shared spec's test vectors (`../shared/spec/vectors`) for parametrized tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """`$ILPNET_SHARED`, else the `shared/` folder beside the repository."""
    env = os.environ.get("ILPNET_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def spec_dir() -> Path:
    return shared_dir() / "spec"


Vector = dict[str, Any]

MISSING = (
    "shared spec vectors not found at {path}: clone ilpnet with shared/ beside it "
    "or set ILPNET_SHARED"
)


def load_vectors(name: str) -> list[Any]:
    """Every vector of one file as pytest params (id = description), or one skipped param."""
    path = spec_dir() / "vectors" / name
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING.format(path=path)))]
    entries: list[Vector] = json.loads(path.read_text())
    return [pytest.param(v, id=f"{i}-{v['description'][:60]}") for i, v in enumerate(entries)]


def load_data(name: str) -> Any:
    """A file from `shared/spec/data`, or skip the test when shared/ is absent."""
    path = spec_dir() / "data" / name
    if not path.exists():
        pytest.skip(MISSING.format(path=path))
    return json.loads(path.read_text())
