"""Fast, validated decoding of COCO-panoptic segment-id PNGs (`id = R + 256 G + 65536 B`).

`PngIdDecoder` (one per worker, reusing its buffers) and `read_ids` (one file) decode with the
fused inflate + numba unfilter path, or with Pillow; `read_grey` reads greyscale label maps;
`PngError` names the file and the problem.
"""

from .decoder import DEFAULT_MAX_PIXELS, PngIdDecoder, read_grey, read_ids, warm_up
from .format import PngError, PngHeader, parse

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "PngError",
    "PngHeader",
    "PngIdDecoder",
    "parse",
    "read_grey",
    "read_ids",
    "warm_up",
]
