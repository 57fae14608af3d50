"""The mIoU kernel: the semantic confusion matrix of a pair of label maps."""

from __future__ import annotations

import numpy as np

from ._cache import njit


@njit(cache=True, nogil=True)
def confusion_matrix(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int
) -> tuple[np.ndarray, int]:  # pragma: no cover - numba
    """Semantic confusion matrix of one flat pair of int64 label maps (for mIoU).

    Args:
        gt: (N,) int64 ground-truth labels in ``0..num_classes-1`` or ``ignore_index``.
        pred: (N,) int64 predicted labels, same range.
        num_classes: C.
        ignore_index: the ignore label, outside ``0..C-1``.

    Returns:
        ``(matrix, bad)``: matrix (C, C + 1) int64, ``matrix[g, p]`` the pixels of gt class g
        predicted as p, column C the pixels predicted as the ignore label; pixels with gt
        ``ignore_index`` are not counted. ``bad`` is -1, or the index of the first pixel whose
        gt or prediction is out of range (the matrix is then incomplete and must be dropped).
    """
    matrix = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    n = gt.shape[0]
    if n == 0:
        return matrix, -1
    # Neighbouring pixels usually share their (gt, pred) pair: count runs, add each run once.
    run_g = gt[0]
    run_p = pred[0]
    run_start = 0
    for i in range(1, n + 1):
        if i < n and gt[i] == run_g and pred[i] == run_p:
            continue
        if run_p == ignore_index:
            p_col = num_classes
        elif 0 <= run_p < num_classes:
            p_col = run_p
        else:
            return matrix, run_start
        if run_g != ignore_index:
            if run_g < 0 or run_g >= num_classes:
                return matrix, run_start
            matrix[run_g, p_col] += i - run_start
        if i < n:
            run_g = gt[i]
            run_p = pred[i]
            run_start = i
    return matrix, -1
