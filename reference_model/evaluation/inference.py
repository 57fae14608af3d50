"""Inference over a split: the model on each batch of this rank's shard, predictions brought
back to each image's size on disk (the size of its ground truth)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from reference_model.data import Batch
from reference_model.model import PanopticModel
from reference_model.prediction import PanopticPrediction, resize_prediction


@dataclass(frozen=True)
class ImagePrediction:
    """One image's prediction at its original size, and the seconds its batch took per image
    in the model (inference and fusion; loading and resizing not counted)."""

    image_id: str | int
    prediction: PanopticPrediction
    seconds: float


def predict(
    model: PanopticModel,
    batches: Iterable[Batch],
    *,
    device: torch.device,
    amp: bool = False,
) -> Iterator[ImagePrediction]:
    """The model's predictions (eval mode, no gradients) on `batches`, image by image.

    Args:
        model: either form, on `device`.
        batches: from `reference_model.data.eval_loader`.
        device: where the model runs.
        amp: mixed precision (CUDA only).
    """
    model.eval()
    for batch in batches:
        images = batch.images.to(device, non_blocking=True)
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            predictions = model(images, image_sizes=batch.image_sizes)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = (time.perf_counter() - start) / len(batch.image_ids)
        assert isinstance(predictions, list)
        for image_id, size, prediction in zip(
            batch.image_ids, batch.original_sizes, predictions, strict=True
        ):
            yield ImagePrediction(image_id, resize_prediction(prediction, size), seconds)
