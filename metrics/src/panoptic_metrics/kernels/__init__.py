"""Every numba kernel of the library, one package; `twins.py` holds the plain-numpy twin of
each, which the tests compare it to (same name, same results). Plain arrays in and out, no
Python loop over pixels or segments on the hot path; each kernel's docstring says what it
computes. Per image, PQ runs `rgb_to_ids`, `intersection_table` (the (gt, pred) pixel-count
table on dense segment indices, runs found from change flags 8 at a time, at most one binary
search per run of equal pairs),
`match_segments` and `decompose_errors` (the cause of each FN and FP); Boundary PQ adds
`boundary_table` and `match_boundary` (`kernels.boundary`; `segment_bands` there is the band
map itself); mIoU `confusion_matrix`; mask AP `rle_counts` and `segment_rles`. PNG decoding
(`kernels.png`) has its plain-Python twin in `png/reference.py`.
"""

from .boundary import (
    DEFAULT_DILATION_RATIO,
    boundary_table,
    dilation_pixels,
    match_boundary,
    segment_bands,
)
from .decomposition import CAUSES, FN_CAUSES, FP_CAUSES, decompose_errors
from .masks import rle_counts, segment_rles
from .panoptic import (
    OK,
    UNKNOWN_GT_ID,
    UNKNOWN_PRED_ID,
    intersection_table,
    iou_bin,
    match_segments,
    rgb_to_ids,
)
from .semantic import confusion_matrix

__all__ = [
    "CAUSES",
    "DEFAULT_DILATION_RATIO",
    "FN_CAUSES",
    "FP_CAUSES",
    "OK",
    "UNKNOWN_GT_ID",
    "UNKNOWN_PRED_ID",
    "boundary_table",
    "confusion_matrix",
    "decompose_errors",
    "dilation_pixels",
    "intersection_table",
    "iou_bin",
    "match_boundary",
    "match_segments",
    "rgb_to_ids",
    "rle_counts",
    "segment_bands",
    "segment_rles",
]
