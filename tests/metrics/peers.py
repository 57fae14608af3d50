"""Run the reference evaluators in-process on a COCO-panoptic set (their own code, unchanged)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any


def panopticapi_stats(
    gt_json: Path, gt_folder: Path, pred_json: Path, pred_folder: Path
) -> tuple[Any, dict[int, Any]]:
    """panopticapi's raw per-class PQStat and its categories, as `pq_compute` builds them,
    but on one core (its per-image function, without the process pool)."""
    from panopticapi.evaluation import pq_compute_single_core

    gt, pred = json.loads(gt_json.read_text()), json.loads(pred_json.read_text())
    categories = {c["id"]: c for c in gt["categories"]}
    by_id = {a["image_id"]: a for a in pred["annotations"]}
    matched = [(a, by_id[a["image_id"]]) for a in gt["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        stat = pq_compute_single_core(0, matched, str(gt_folder), str(pred_folder), categories)
    return stat, categories


def panopticapi_pq_compute(
    gt_json: Path, gt_folder: Path, pred_json: Path, pred_folder: Path
) -> dict[str, Any]:
    """panopticapi's `pq_compute`, end to end (its process pool included)."""
    from panopticapi.evaluation import pq_compute

    with contextlib.redirect_stdout(io.StringIO()):
        return pq_compute(str(gt_json), str(pred_json), str(gt_folder), str(pred_folder))


def cityscapes_evaluate(
    gt_json: Path, gt_folder: Path, pred_json: Path, pred_folder: Path, out: Path
) -> dict[str, Any]:
    """cityscapesscripts' `evaluatePanoptic` (evalPanopticSemanticLabeling), end to end."""
    from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import evaluatePanoptic

    with contextlib.redirect_stdout(io.StringIO()):
        results: dict[str, Any] = evaluatePanoptic(
            str(gt_json), str(gt_folder), str(pred_json), str(pred_folder), str(out)
        )
    return results


def vernier_panoptic(
    gt_json: Path,
    gt_folder: Path,
    pred_json: Path,
    pred_folder: Path,
    *,
    iou_threshold: float | None = None,
    groups: dict[str, list[int]] | None = None,
    boundary: bool = False,
    dilation_ratio: float = 0.02,
    column_major: bool = False,
) -> Any:
    """vernier's panoptic `Evaluator(parity_mode="strict")` (its bit-exact panopticapi mode)
    with its `pq_iou_threshold`, `class_grouping` and Boundary PQ (`boundary`,
    `dilation_ratio`), on the decoded maps of a COCO-panoptic set (vernier wants integer
    image ids: each image gets its position).

    vernier 0.5.4 reads an (H, W) map's buffer column by column (`vernier_view`), which
    changes nothing but Boundary PQ, and that only on non-square maps; `column_major` hands
    it each map's column-major buffer, which it then reads as the map itself
    (tests/metrics/test_boundary.py pins that behaviour)."""
    import numpy as np
    import vernier.panoptic as vp

    from tests.metrics.panoptic_data import load_coco_annotated

    layout = column_major_buffer if column_major else np.ascontiguousarray
    gt = load_coco_annotated(gt_json, gt_folder)
    pred = {a.image_id: a for a in load_coco_annotated(pred_json, pred_folder)}
    position = {a.image_id: k for k, a in enumerate(gt)}
    categories = json.loads(gt_json.read_text())["categories"]

    def maps(images: list[Any]) -> tuple[dict[int, Any], bytes]:
        arrays = {position[a.image_id]: layout(a.ids.astype(np.uint32)) for a in images}
        info = {str(position[a.image_id]): a.segments for a in images}
        return arrays, json.dumps(info).encode()

    dataset = vp.Dataset.from_arrays(*maps(gt), json.dumps(categories).encode())
    predictions = vp.Predictions.from_arrays(*maps([pred[a.image_id] for a in gt]))
    grouping = None
    if groups is not None:
        grouping = vp.Breakdown.from_class_groups("groups", list(groups.items()))
    evaluator = vp.Evaluator(
        parity_mode="strict",
        pq_iou_threshold=iou_threshold,
        class_grouping=grouping,
        boundary=boundary,
        dilation_ratio=dilation_ratio,
    )
    return evaluator.evaluate(dataset, predictions)


def column_major_buffer(ids: Any) -> Any:
    """An (H, W) map whose row-major buffer holds `ids` column by column (what vernier 0.5.4
    must be given to see `ids`)."""
    import numpy as np

    return np.ascontiguousarray(ids.ravel(order="F").reshape(ids.shape))


def vernier_view(ids: Any) -> Any:
    """The (H, W) map vernier 0.5.4 sees when given the row-major `ids`: the same buffer read
    column by column."""
    import numpy as np

    return np.ascontiguousarray(ids.ravel().reshape(ids.shape, order="F"))
