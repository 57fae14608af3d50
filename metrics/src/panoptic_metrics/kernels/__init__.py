"""Every numba kernel of the library, one package; `twins.py` holds the plain-numpy twin of
each, which the tests compare it to (same name, same results).

Plain arrays in and out (int64 ids and counts, float64 sums); no Python loop over pixels or
segments on the hot path. Panoptic quality, per image:

1. `rgb_to_ids`: RGB bytes -> segment ids (R + 256 G + 65536 B).
2. `intersection_table`: the (gt segment, pred segment) pixel-count table, on dense indices
   (0 = void, k = the k-th segment of the image's list) found by a binary search over the
   image's sorted ids, done only when a pixel differs from the previous one: runs of equal
   (gt, pred) pairs are counted in registers and added to the table once per run.
3. `match_segments`: TP/FP/FN/IoU per class for PQ (panopticapi's rules), the PQ† stuff sums
   and the best-overlap IoU of every gt segment, from that small table.

Status codes returned by `intersection_table`: 0 ok, 1 a gt id not in the gt segments,
2 a pred id not in the pred segments (the offending value is returned with it).

PNG decoding (`kernels.png`, used by `panoptic_metrics.png`): the row unfiltering fused with
the RGB -> id packing; its plain-Python twin is `png/reference.py`.

mIoU: `confusion_matrix`, the semantic confusion matrix of a label-map pair, by runs too.
Mask AP: `rle_counts`, the checked decoding of a compressed COCO RLE string, and
`segment_rles`, the COCO run lengths of every segment of an id map in one pass.
"""

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
    "OK",
    "UNKNOWN_GT_ID",
    "UNKNOWN_PRED_ID",
    "confusion_matrix",
    "intersection_table",
    "iou_bin",
    "match_segments",
    "rgb_to_ids",
    "rle_counts",
    "segment_rles",
]
