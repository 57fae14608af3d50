"""panoptic_metrics: PQ, SQ, RQ, PQ† (Porzi et al., CVPR 2019), mIoU and mask AP.

Numerically identical to panopticapi for PQ, numba-fast, streaming and mergeable.
Depends on numpy, numba, Pillow and zlib-ng (where it has wheels); torch is imported only by
`panoptic_metrics.distributed` (tensors passed in are read through their own `cpu()` and
`__array__`).
"""

from .accumulator import PanopticAccumulator
from .boundary import DEFAULT_DILATION_RATIO
from .categories import Category, CategorySet
from .errors import PanopticInputError
from .evaluate import evaluate_cityscapes, evaluate_coco, evaluate_pairs
from .groups import check_groups, cityscapes_groups, load_groups
from .io import read_panoptic_png
from .mask_ap import MaskAP, MaskAPResult
from .matching import ImageStats, match_image
from .miou import MiouAccumulator, MiouResult
from .readers import (
    cityscapes_categories,
    encode_label_divisor,
    from_category_instance,
    from_instance_ids,
    from_label_divisor,
    from_segments,
    load_coco_panoptic,
    read_cityscapes_instance_ids,
    read_coco_panoptic_image,
)
from .results import (
    BoundaryResult,
    ClassAt,
    ClassResult,
    GroupResult,
    ImageResult,
    PanopticResults,
    Quality,
    Scores,
    ThresholdResult,
)
from .run import RunAccumulator, RunResults, evaluate_run
from .segmentation import PanopticImage, Segments
from .thresholds import IOU_THRESHOLDS

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DILATION_RATIO",
    "IOU_THRESHOLDS",
    "BoundaryResult",
    "Category",
    "CategorySet",
    "ClassAt",
    "ClassResult",
    "GroupResult",
    "ImageResult",
    "ImageStats",
    "MaskAP",
    "MaskAPResult",
    "MiouAccumulator",
    "MiouResult",
    "PanopticAccumulator",
    "PanopticImage",
    "PanopticInputError",
    "PanopticResults",
    "Quality",
    "RunAccumulator",
    "RunResults",
    "Scores",
    "Segments",
    "ThresholdResult",
    "__version__",
    "check_groups",
    "cityscapes_categories",
    "cityscapes_groups",
    "encode_label_divisor",
    "evaluate_cityscapes",
    "evaluate_coco",
    "evaluate_pairs",
    "evaluate_run",
    "from_category_instance",
    "from_instance_ids",
    "from_label_divisor",
    "from_segments",
    "load_coco_panoptic",
    "load_groups",
    "match_image",
    "read_cityscapes_instance_ids",
    "read_coco_panoptic_image",
    "read_panoptic_png",
]
