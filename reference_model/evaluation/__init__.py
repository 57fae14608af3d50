"""Evaluation: inference over a split (sharded over ranks), panoptic fusion, predictions
written as COCO panoptic and COCO results, metrics through panoptic_metrics (docs/contracts.md
§4): `evaluate(model, source=..., data=..., run=..., ctx=..., config=EvaluationConfig())`."""

from .evaluator import EvaluationConfig, evaluate
from .ground_truth import GroundTruth
from .inference import ImagePrediction, predict
from .writer import PredictionWriter, file_name_of

__all__ = [
    "EvaluationConfig",
    "GroundTruth",
    "ImagePrediction",
    "PredictionWriter",
    "evaluate",
    "file_name_of",
    "predict",
]
