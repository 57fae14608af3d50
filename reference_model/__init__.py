"""The reference model of Seamless Scene Segmentation (Porzi et al., CVPR 2019) and its harness.

Importing this package is cheap and does not import torch: the synthetic dataset
(`reference_model.synthetic`) is usable with numpy and Pillow alone.
"""

__version__ = "0.1.0"
