"""Rendered plots: a matplotlib figure turned into PNG and SVG bytes, with its caption.

Figures are built with `matplotlib.figure.Figure` directly (the Agg and SVG canvases), never
through pyplot, so no global backend or figure state is touched and nothing needs a display.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# One colour per run, in the order the runs were given (matplotlib's tab10).
RUN_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
PNG_DPI = 110


@dataclass(frozen=True)
class Plot:
    """A finished plot: file stem, caption and its encodings (SVG may be empty for raster art)."""

    name: str
    caption: str
    png: bytes
    svg: bytes = b""


def run_colour(index: int) -> str:
    """The colour of the `index`-th run."""
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def new_figure(width: float, height: float) -> Figure:
    """A blank figure of `width` x `height` inches with the report's look."""
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def render(fig: Figure, name: str, caption: str, *, svg: bool = True) -> Plot:
    """Encode `fig` as PNG (and SVG unless `svg` is False) and return it as a `Plot`."""
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
    vector = b""
    fig.set_layout_engine("none")  # keep the layout of the PNG: the SVG need not redo it
    if svg:
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        vector = buf.getvalue()
    return Plot(name=name, caption=caption, png=png.getvalue(), svg=vector)


def style_axes(ax: Axes) -> None:
    """Light grid behind the data, no top/right spines."""
    ax.grid(True, axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def figure_legend(fig: Figure, axes: Iterable[Axes], fontsize: float = 10) -> None:
    """One legend above the figure with every label drawn in any of `axes`, each once."""
    entries: dict[str, Artist] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(
            list(entries.values()),
            list(entries),
            loc="outside upper center",
            ncols=min(len(entries), 6),
            fontsize=fontsize,
        )
