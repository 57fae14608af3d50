"""The error decomposition kernel against its numpy twin and against PQ's own matching: every
FN and every FP gets exactly one cause (docs/metrics.md, "Error decomposition")."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from panoptic_metrics import kernels, twins

from tests.metrics.kernels.test_kernels import SETTINGS, _tables

N_FN = len(kernels.FN_CAUSES)


@SETTINGS
@given(_tables(), st.booleans())
def test_decompose_errors_equals_twin_and_adds_up_to_fn_and_fp(tables, strict: bool) -> None:  # type: ignore[no-untyped-def]
    table, gt_class, crowd, area, pred_class, is_stuff = tables
    n_classes = is_stuff.shape[0]
    ours = kernels.decompose_errors(table, gt_class, crowd, area, pred_class, strict, n_classes)
    twin = twins.decompose_errors(table, gt_class, crowd, area, pred_class, strict, n_classes)
    assert np.array_equal(ours, twin)
    _, fp, fn, *_ = kernels.match_segments(*tables, strict, 20)
    assert np.array_equal(ours[:, :N_FN].sum(axis=1), fn)
    assert np.array_equal(ours[:, N_FN:].sum(axis=1), fp)
