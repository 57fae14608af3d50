"""Render the report page (jinja2, autoescaped) and write output files atomically."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from panoptic_metrics.io import write_bytes_atomic

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> jinja2.Environment:
    """The jinja2 environment: autoescaping on for everything, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(context: Mapping[str, Any]) -> str:
    """The whole self-contained HTML page."""
    return environment().get_template("report.html.j2").render(**context)


def data_uri(png: bytes) -> str:
    """A PNG as a `data:` URI, so the page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write `data` with the library's atomic writer; returns `path`."""
    write_bytes_atomic(data.encode("utf-8") if isinstance(data, str) else data, path)
    return path
