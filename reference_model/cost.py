"""Counting the model's size and compute the way the paper does (§5.4), without running it.

- `count_parameters`: every parameter, trainable or frozen.
- `dense_conv_macs`: multiply-adds of the dense convolutions of body, FPN, RPN head and
  semantic head at an image size (the paper's "0.514 TFLOP" at 1024 x 2048 is this count:
  docs/paper.md §2). A conv's MACs are (output elements) x (input channels / groups) x kh x
  kw; biases, norms, activations, pooling and upsampling are not counted.
- `roi_macs_per_detection`: multiply-adds of the ROI head for one ROI (box branch + mask branch),
  which the dense count leaves out because it depends on the number of detections.

Both run the modules on the meta device (shapes only, no memory, no time): build the model
under `torch.device("meta")` with `body.weights = "scratch"`, or pass any model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .model import CombinedModel, IndependentModel, PanopticModel
from .roi_head import ROIHead

COUNTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def count_parameters(model: nn.Module) -> int:
    """All parameters, trainable or frozen (the paper's model size)."""
    return sum(p.numel() for p in model.parameters())


def parameters_by_part(model: nn.Module) -> dict[str, int]:
    """Parameter counts per top-level part (`backbone.body`, `rpn`, `roi_head`, ...)."""
    out: dict[str, int] = defaultdict(int)
    for name, p in model.named_parameters():
        out[_part(name)] += p.numel()
    return dict(out)


def layer_macs(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """Multiply-adds of one conv / deconv / linear call (batch included, bias excluded)."""
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    assert isinstance(module, nn.Conv2d | nn.ConvTranspose2d)
    kernel = module.kernel_size[0] * module.kernel_size[1]
    if isinstance(module, nn.ConvTranspose2d):  # every input element meets every kernel tap
        return inputs.numel() * module.out_channels // module.groups * kernel
    return output.numel() * module.in_channels // module.groups * kernel


@contextmanager
def counting(model: nn.Module) -> Iterator[dict[str, int]]:
    """Count MACs per part of every conv / linear call inside the `with` block."""
    totals: dict[str, int] = defaultdict(int)
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, COUNTED):

            def hook(
                mod: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor, name: str = name
            ) -> None:
                totals[_part(name)] += layer_macs(mod, args[0], out)

            handles.append(m.register_forward_hook(hook))
    try:
        yield totals
    finally:
        for h in handles:
            h.remove()


def dense_conv_macs(model: PanopticModel, height: int, width: int) -> dict[str, int]:
    """Dense-conv MACs per part for one image of height x width, and their `total`."""
    device = next(model.parameters()).device
    images = torch.zeros(1, 3, height, width, device=device)
    model.eval()
    with torch.no_grad(), counting(model) as totals:
        run_dense(model, images)
    result = dict(totals)
    result["total"] = sum(totals.values())
    return result


def run_dense(
    model: PanopticModel, images: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Body + FPN, RPN head and semantic head (what the paper's FLOPs count) of either form.

    Returns the pyramid the ROI head reads and the heads' outputs.
    """
    if isinstance(model, CombinedModel):
        features = model.backbone(images)
        outputs = [t for f in features for t in model.rpn.head(f)]
        return features, [*outputs, model.semantic_head(features)]
    if isinstance(model, IndependentModel):
        semantic = model.semantic.semantic_head(model.semantic.backbone(images))
        features = model.instance.backbone(images)
        return features, [semantic, *(t for f in features for t in model.instance.rpn.head(f))]
    raise TypeError(f"not a model of this package: {type(model).__name__}")


def roi_head_of(model: PanopticModel) -> ROIHead:
    """The ROI head of either form."""
    if isinstance(model, CombinedModel):
        return model.roi_head
    if isinstance(model, IndependentModel):
        return model.instance.roi_head
    raise TypeError(f"not a model of this package: {type(model).__name__}")


def roi_macs_per_detection(model: PanopticModel) -> dict[str, int]:
    """ROI head MACs for one ROI: the box branch (`box`), the mask branch (`mask`), `total`."""
    roi_head = roi_head_of(model)
    cfg = roi_head.config
    device = next(model.parameters()).device
    channels = roi_head.box_head.fc1.in_features // (cfg.roi_size // 2) ** 2
    rois = torch.zeros(1, channels, cfg.roi_size, cfg.roi_size, device=device)
    model.eval()
    with torch.no_grad(), counting(roi_head.box_head) as box:
        roi_head.box_head(rois)
    with torch.no_grad(), counting(roi_head.mask_head) as mask:
        roi_head.mask_head(rois)
    b, m = sum(box.values()), sum(mask.values())
    return {"box": b, "mask": m, "total": b + m}


def meta_model(build: Callable[[], PanopticModel]) -> PanopticModel:
    """`build()` on the meta device: parameters with shapes and no storage."""
    with torch.device("meta"):
        return build()


_PARTS = (
    "backbone.body",
    "backbone.fpn",
    "rpn.head",
    "roi_head.box_head",
    "roi_head.mask_head",
    "semantic_head",
)


def _part(name: str) -> str:
    """The part a parameter or module belongs to, e.g. `semantic.backbone.body`."""
    for prefix in ("semantic.", "instance.", ""):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            for part in _PARTS:
                if rest == part or rest.startswith(part + "."):
                    return prefix + part
    return name.split(".")[0]
