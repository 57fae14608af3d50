"""Everything a run's evaluation needs in one pass over the images: PQ/PQ† always, mIoU from
semantic label maps and mask AP from instance predictions when asked for.

`RunAccumulator` streams in memory (the trainer's `update` per image, shards `merge`);
`evaluate_run` reads COCO-panoptic files and, for mask AP, a COCO results JSON, decoding each
ground-truth PNG once. mIoU needs semantic predictions, which a run directory does not hold,
so it is in-memory only. `RunResults` is a run's metrics.json (docs/contracts.md §4).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .accumulator import PanopticAccumulator
from .boundary import DEFAULT_DILATION_RATIO
from .categories import CategorySet
from .errors import PanopticInputError
from .evaluate import MatchSettings, boundary_ratio, coco_pairs, match_pairs
from .io import DEFAULT_MAX_PIXELS, json_float, write_json_atomic
from .mask_ap import MaskAP, MaskAPResult
from .matching import ImageStats, Mode, match_image
from .miou import MiouAccumulator, MiouResult
from .panoptic_instances import instances_from_panoptic
from .results import PanopticResults, json_form
from .segmentation import PanopticImage, image_id_of

__all__ = ["RunAccumulator", "RunResults", "evaluate_run"]


@dataclass(frozen=True)
class RunResults:
    """The metrics of one run: PQ/PQ† results, and mIoU and mask AP where computed."""

    panoptic: PanopticResults
    miou: MiouResult | None = None
    mask_ap: MaskAPResult | None = None

    def to_json(self) -> dict[str, Any]:
        """metrics.json without `split` and `dataset`: the keys of `PanopticResults.to_json`
        plus `miou` (a fraction), `per_class_iou` (by category id) and `mask_ap` (the object
        of `MaskAPResult.to_json`, its `ap` the headline number), null when not computed."""
        data = self.json_parts()
        data["per_image"] = list(data["per_image"])
        return data

    def json_parts(self) -> dict[str, Any]:
        """`to_json()` with its `per_image` rows as an iterator (`PanopticResults.json_parts`):
        what `write_json` streams, one row a line."""
        data = self.panoptic.json_parts()
        data["miou"] = None if self.miou is None else json_float(self.miou.miou)
        data["per_class_iou"] = None if self.miou is None else self.miou.to_json()["per_class_iou"]
        data["mask_ap"] = None if self.mask_ap is None else self.mask_ap.to_json()
        return data

    def write_json(self, path: str | os.PathLike[str], **extra: Any) -> None:
        """Write `to_json()` and the `extra` keys (e.g. split, dataset) to `path` atomically."""
        write_json_atomic({**self.json_parts(), **extra}, path)

    @classmethod
    def from_json(cls, data: Any, *, source: str = "metrics") -> RunResults:
        """Read back `to_json()` output, e.g. a run's metrics.json (other keys are ignored; its
        mIoU holds no counts, as metrics.json does); PanopticInputError naming `source` if the
        data is not that JSON."""
        panoptic = PanopticResults.from_json(data, source=source)
        with json_form(source, "a run's metrics"):
            miou, ious, mask_ap = data["miou"], data["per_class_iou"], data["mask_ap"]
        if ious is None and miou is not None:
            raise PanopticInputError(source, "holds a miou but no per_class_iou")
        stored = {"miou": miou, "per_class_iou": ious}  # metrics.json keeps no counts
        return cls(
            panoptic,
            None if ious is None else MiouResult.from_json(stored, source=source),
            None if mask_ap is None else MaskAPResult.from_json(mask_ap, source=source),
        )


class RunAccumulator:
    """Streaming PQ/PQ†, and optionally mIoU and mask AP, over the images of a run.

    Class indices follow docs/contracts.md §1: semantic labels are contiguous indices (stuff
    first, then things: `CategorySet.contiguous_ids`), detection labels are thing indices
    (`CategorySet.thing_ids`).

    With `miou`, every `update` needs both semantic maps (`ignore_index`: their ignore label);
    with `mask_ap`, the detections and the ground truth's image_id (`max_detections`: kept by
    COCOeval per image). `mode`, `n_bins`, `boundary` and `dilation_ratio` (Boundary PQ) are
    those of `PanopticAccumulator`.
    """

    def __init__(
        self,
        categories: CategorySet,
        *,
        mode: Mode = "strict",
        miou: bool = False,
        mask_ap: bool = False,
        ignore_index: int = 255,
        max_detections: int = 100,
        n_bins: int = 20,
        boundary: bool = False,
        dilation_ratio: float = DEFAULT_DILATION_RATIO,
    ) -> None:
        self.categories = categories
        self.panoptic = PanopticAccumulator(
            categories,
            mode=mode,
            n_bins=n_bins,
            boundary=boundary,
            dilation_ratio=dilation_ratio,
        )
        self.miou: MiouAccumulator | None = None
        if miou:
            ids, n = categories.contiguous_ids, len(categories)
            self.miou = MiouAccumulator(n, ignore_index=ignore_index, category_ids=ids)
        self.mask_ap = (
            MaskAP(categories.thing_ids, max_detections=max_detections) if mask_ap else None
        )

    @property
    def n_images(self) -> int:
        return self.panoptic.n_images

    def update(
        self,
        gt: PanopticImage,
        pred: PanopticImage,
        *,
        gt_semantic: Any = None,
        pred_semantic: Any = None,
        detections: Mapping[str, Any] | None = None,
    ) -> ImageStats:
        """Add one image and return its PQ state; nothing is added when anything fails.
        `gt_semantic`, `pred_semantic`: (H, W) contiguous class indices (with mIoU);
        `detections`: ``labels`` (thing indices), ``scores``, ``masks`` or ``rles`` (with mask
        AP), e.g. a `PanopticPrediction`'s instances before fusion."""
        stats = match_image(
            gt,
            pred,
            self.categories,
            mode=self.panoptic.mode,
            n_bins=self.panoptic.n_bins,
            dilation_ratio=self.panoptic.dilation_ratio,
        )
        confusion = self._confusion(gt, gt_semantic, pred_semantic)
        if self.mask_ap is not None:  # atomic on its own, so last of the checks
            if detections is None:
                raise PanopticInputError(gt.source, "mask AP is on: the detections are needed")
            if gt.image_id is None:
                raise PanopticInputError(gt.source, "mask AP needs the image's image_id")
            instances = instances_from_panoptic(gt, self.categories.thing_ids)
            self.mask_ap.update(gt.image_id, detections, instances)
        elif detections is not None:
            raise ValueError("detections given, but this accumulator computes no mask AP")
        self.panoptic.add(stats)
        if self.miou is not None and confusion is not None:
            self.miou.add(*confusion)
        return stats

    def _confusion(self, gt: PanopticImage, gt_semantic: Any, pred_semantic: Any) -> Any:
        """The image's mIoU confusion matrix and image count, or None without mIoU."""
        given = gt_semantic is not None or pred_semantic is not None
        if self.miou is None:
            if given:
                raise ValueError("semantic maps given, but this accumulator computes no mIoU")
            return None
        if gt_semantic is None or pred_semantic is None:
            raise PanopticInputError(gt.source, "mIoU is on: gt_semantic and pred_semantic needed")
        shape = tuple(np.shape(gt_semantic))
        if shape != gt.ids.shape:
            raise PanopticInputError(
                "gt_semantic", f"has shape {shape}, its panoptic ground truth {gt.ids.shape}"
            )
        return self.miou.confusion_of(gt_semantic, pred_semantic)

    def merge(self, other: RunAccumulator) -> RunAccumulator:
        """Add another shard's state (set up the same way); returns self."""
        if (other.miou is None, other.mask_ap is None) != (self.miou is None, self.mask_ap is None):
            raise ValueError("can only merge run accumulators computing the same metrics")
        self.panoptic.merge(other.panoptic)
        if self.miou is not None and other.miou is not None:
            self.miou.merge(other.miou)
        if self.mask_ap is not None and other.mask_ap is not None:
            self.mask_ap.merge(other.mask_ap)
        return self

    def reset(self) -> None:
        """Forget every image."""
        for part in (self.panoptic, self.miou, self.mask_ap):
            if part is not None:
                part.reset()

    def compute(self) -> RunResults:
        """The results of every image added so far; the state is unchanged."""
        return RunResults(
            panoptic=self.panoptic.compute(),
            miou=None if self.miou is None else self.miou.compute(),
            mask_ap=None if self.mask_ap is None else self.mask_ap.compute(),
        )


def evaluate_run(
    gt_json: str | os.PathLike[str],
    gt_folder: str | os.PathLike[str],
    pred_json: str | os.PathLike[str],
    pred_folder: str | os.PathLike[str],
    *,
    detections_json: str | os.PathLike[str] | None = None,
    mode: Mode = "strict",
    workers: int | None = None,
    progress: bool = True,
    max_detections: int = 100,
    n_bins: int = 20,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    boundary: bool = False,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
) -> RunResults:
    """PQ/PQ† of COCO-panoptic predictions and, given `detections_json` (a COCO results JSON,
    e.g. a run's predictions/instances.json), mask AP, in one pass over the ground truth.

    The options are those of `evaluate_coco` (`boundary`: Boundary PQ too); `max_detections`
    is COCOeval's.
    """
    pairs, categories = coco_pairs(gt_json, gt_folder, pred_json, pred_folder)
    mask_ap = None
    if detections_json is not None:
        mask_ap = MaskAP(categories.thing_ids, max_detections=max_detections)
        mask_ap.read_predictions(detections_json)  # bad detections fail before any PNG is read
    thing_ids = None if mask_ap is None else categories.thing_ids
    settings = MatchSettings(
        categories=categories,
        mode=mode,
        n_bins=n_bins,
        max_pixels=max_pixels,
        thing_ids=thing_ids,
        dilation_ratio=boundary_ratio(boundary, dilation_ratio),
    )
    panoptic = PanopticAccumulator(
        categories, mode=mode, n_bins=n_bins, boundary=boundary, dilation_ratio=dilation_ratio
    )
    for stats, instances in match_pairs(pairs, settings, workers=workers, progress=progress):
        panoptic.add(stats)
        if mask_ap is not None and instances is not None:
            mask_ap.add_instances(image_id_of(stats.image_id, str(gt_json)), instances)
    return RunResults(panoptic.compute(), None, None if mask_ap is None else mask_ap.compute())
