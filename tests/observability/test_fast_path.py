"""Tracing keeps every field on the compiled fast path: no per-field hook."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.no_db


def test_the_tracing_extension_has_no_per_field_hook() -> None:
    """A `resolve` hook would make it a middleware around every field, off the fast path."""
    from engine.extensions import Tracing
    from schema import build_schema

    assert "resolve" not in Tracing.__dict__
    traced = build_schema(tracing=True)
    assert Tracing in traced.extensions
    assert Tracing not in build_schema().extensions
