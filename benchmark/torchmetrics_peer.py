"""torchmetrics' `PanopticQuality` on a COCO-panoptic workload (a peer of the speed benchmark).

torchmetrics takes (H, W, 2) maps of (category id, instance id) and has no notion of crowd:
crowd and void ground truth both become void here (a category outside things and stuff), so
its PQ differs from panopticapi's wherever crowd segments or predicted void matter
(docs/metrics.md). Imported only in the peer's child process: it needs torch.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchmetrics.detection import PanopticQuality

from .speed_workload import Workload

VOID = 0  # not a category id of the dataset: torchmetrics maps unknown categories to void


def _category_instance(path: str, segments: list[dict[str, Any]]) -> torch.Tensor:
    rgb = np.asarray(Image.open(path), dtype=np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    known = np.array(sorted(s["id"] for s in segments), dtype=np.int64)
    by_id = {s["id"]: s for s in segments}
    category = np.array(
        [VOID] + [0 if by_id[i]["iscrowd"] else by_id[i]["category_id"] for i in known.tolist()]
    )
    instance = np.array([0, *known.tolist()])
    index = np.searchsorted(known, ids) + 1
    index[ids == 0] = 0
    return torch.from_numpy(np.stack([category[index], instance[index]], axis=-1))


def evaluate(workload: Workload) -> dict[str, Any]:
    """PQ, SQ and RQ of torchmetrics over the workload's pairs (no per-class values)."""
    gt = json.loads(workload.gt_json.read_text())
    pred = {a["image_id"]: a for a in json.loads(workload.pred_json.read_text())["annotations"]}
    things = {c["id"] for c in gt["categories"] if c["isthing"]}
    stuffs = {c["id"] for c in gt["categories"] if not c["isthing"]}
    metric = PanopticQuality(
        things, stuffs, allow_unknown_preds_category=True, return_sq_and_rq=True
    )
    for annotation in gt["annotations"]:
        p = pred[annotation["image_id"]]
        target = _category_instance(
            str(workload.gt_folder / annotation["file_name"]), annotation["segments_info"]
        )
        preds = _category_instance(str(workload.pred_folder / p["file_name"]), p["segments_info"])
        metric.update(preds[None], target[None])
    pq, sq, rq = (float(v) for v in metric.compute())
    return {"pq": pq, "sq": sq, "rq": rq, "per_class": {}}
