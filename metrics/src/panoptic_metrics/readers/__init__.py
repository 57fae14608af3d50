"""One reader per input format: COCO panoptic, Cityscapes ground truth, in-memory arrays."""

from .arrays import (
    as_id_map,
    encode_label_divisor,
    from_category_instance,
    from_label_divisor,
    from_segments,
)
from .cityscapes import (
    cityscapes_categories,
    cityscapes_sources,
    from_instance_ids,
    read_cityscapes_instance_ids,
)
from .coco import CocoPanoptic, load_coco_panoptic, pair_images, read_coco_panoptic_image

__all__ = [
    "CocoPanoptic",
    "as_id_map",
    "cityscapes_categories",
    "cityscapes_sources",
    "encode_label_divisor",
    "from_category_instance",
    "from_instance_ids",
    "from_label_divisor",
    "from_segments",
    "load_coco_panoptic",
    "pair_images",
    "read_cityscapes_instance_ids",
    "read_coco_panoptic_image",
]
