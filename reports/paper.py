"""The paper's numbers that the report puts beside the reproduced ones.

Sources: Porzi et al., *Seamless Scene Segmentation*, CVPR 2019, as collected in
docs/paper.md §1 and §2: Table 1 (Cityscapes and Vistas validation),
§5.1 (Cityscapes, Ours Independent), §5.2 (IDD validation), §5.4 (parameters and FLOPs).
All metrics in percent, as the paper prints them; `None` where the paper gives no number.
"""

from __future__ import annotations

from dataclasses import dataclass

METRIC_COLUMNS: tuple[str, ...] = (
    "PQ", "Boundary PQ", "SQ", "RQ", "PQ_th", "PQ_st", "PQ†", "AP_M", "mIoU"
)  # fmt: skip


@dataclass(frozen=True)
class PaperRow:
    """One result row of the paper: which run it corresponds to, where it is printed."""

    dataset: str  # "cityscapes" | "vistas" | "idd"
    run: str  # the named run of the harness it corresponds to
    label: str  # the paper's own name of the row
    source: str
    values: dict[str, float | None]


def _row(
    pq: float,
    pq_st: float | None,
    pq_th: float | None,
    pq_dagger: float,
    ap_m: float | None,
    miou: float | None,
) -> dict[str, float | None]:
    # The paper prints neither SQ nor RQ for any of these rows, nor Boundary PQ (which came
    # two years later: Cheng et al. 2021).
    return {
        "PQ": pq,
        "Boundary PQ": None,
        "SQ": None,
        "RQ": None,
        "PQ_th": pq_th,
        "PQ_st": pq_st,
        "PQ†": pq_dagger,
        "AP_M": ap_m,
        "mIoU": miou,
    }


PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow(
        "cityscapes",
        "combined",
        "Ours Combined",
        "paper Table 1",
        _row(59.8, 63.6, 54.6, 59.0, 33.0, 76.2),
    ),
    PaperRow(
        "cityscapes",
        "combined-no-freeze-decay-bn",
        "Ours Combined no freeze|decay BN",
        "paper Table 1",
        _row(60.2, 63.6, 55.6, 59.6, 33.3, 74.9),
    ),
    # §5.1 prints "PQSt = 64.5%, PQTh = 64.5%" for Ours Independent: one of the two is a typo
    # (the same value twice, and PQ = 59.8 cannot be the mean of two 64.5s), so neither is
    # shown. Its mIoU and AP_M are those of the separately trained models (§5.1: 73.8, 31.9).
    PaperRow(
        "cityscapes",
        "independent",
        "Ours Independent",
        "paper §5.1",
        _row(59.8, None, None, 59.0, 31.9, 73.8),
    ),
    PaperRow(
        "vistas",
        "combined",
        "Ours Combined",
        "paper Table 1",
        _row(36.2, 40.0, 33.6, 37.5, 16.5, 45.8),
    ),
    PaperRow(
        "vistas",
        "combined-no-freeze-decay-bn",
        "Ours Combined no freeze|decay BN",
        "paper Table 1",
        _row(35.8, 39.8, 33.0, 37.2, 16.2, 45.6),
    ),
    PaperRow(
        "idd", "combined", "Ours Combined", "paper §5.2", _row(46.9, 45.9, 48.7, 48.5, 29.8, 67.5)
    ),
    PaperRow(
        "idd",
        "independent",
        "Ours Independent",
        "paper §5.2",
        _row(47.2, 46.6, 48.3, 48.8, 29.8, 67.2),
    ),
)

# §5.4: parameters and FLOPs at 1024x2048 (the dense convolutions; docs/paper.md §2).
PAPER_COST: dict[str, dict[str, float]] = {
    "combined": {"params": 51.43e6, "dense_conv_macs": 0.514e12},
    "independent": {"params": 78.06e6, "dense_conv_macs": 0.864e12},
}
PAPER_COST_SIZE = (1024, 2048)
# The model preset of the paper's counts (the Cityscapes configuration, 19 classes).
PAPER_COST_PRESET = "paper-cityscapes"

_DATASET_ALIASES = {
    "cityscapes": "cityscapes",
    "vistas": "vistas",
    "mapillary": "vistas",
    "mapillary-vistas": "vistas",
    "mapillary_vistas": "vistas",
    "idd": "idd",
    "indian-driving-dataset": "idd",
}


def paper_dataset(name: object) -> str | None:
    """The paper's name for a dataset (`cityscapes`, `vistas`, `idd`), or None if it has none."""
    if not isinstance(name, str):
        return None
    return _DATASET_ALIASES.get(name.strip().lower())


def paper_rows(dataset: object) -> tuple[PaperRow, ...]:
    """The paper's rows for `dataset` (any alias), empty for datasets the paper does not use."""
    key = paper_dataset(dataset)
    return tuple(r for r in PAPER_ROWS if r.dataset == key)
