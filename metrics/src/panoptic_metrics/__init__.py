"""panoptic_metrics: PQ, SQ, RQ, PQ† (Porzi et al., CVPR 2019), mIoU and mask AP.

Numerically identical to panopticapi for PQ, numba-fast, streaming and mergeable.
Depends on numpy, numba and Pillow only; torch is never imported unless you pass tensors.
"""

__version__ = "0.1.0"
