"""The two forms the paper compares (Fig. 1): `combined` and `independent`.

- `CombinedModel`: one body + FPN shared by the instance branch (RPN + ROI head) and the
  semantic head (Fig. 1 right).
- `IndependentModel`: a semantic-only network (`SemanticNetwork`, its own ResNet-50 + FPN) and a
  Mask R-CNN-only network (`InstanceNetwork`, its own ResNet-50 + FPN), fused after inference by
  the same fusion (Fig. 1 left). Trained together on the summed losses, the two are exactly two
  separately trained networks: they share no parameter, so their gradients are independent
  (with a per-parameter optimiser such as SGD, and no gradient clipping over both).

Both are called the same way (docs/contracts.md §2):
    losses = model(images, targets)                       # training: dict, fixed keys
    predictions = model(images, image_sizes=[(h, w)])     # eval: list[PanopticPrediction]
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .fpn import Backbone
from .inputs import check_image_sizes, check_images, check_targets
from .losses import image_loss
from .prediction import PanopticPrediction, make_prediction
from .roi_head import ROIHead
from .rpn import RPN
from .upsampled_loss import upsampled_semantic_loss

# The semantic loss of the stride-4 logits against the images' targets: the CPU kernels where
# they apply (`upsampled_loss`). Benchmarks and tests swap in `ops_semantic_loss` to compare.
SEMANTIC_LOSS = upsampled_semantic_loss

Sizes = list[tuple[int, int]]
Targets = list[dict[str, torch.Tensor]]
Detections = list[dict[str, torch.Tensor]]


class SemanticNetwork(nn.Module):
    """Body + FPN + semantic head: the semantic model of the independent form."""

    def __init__(self, backbone: Backbone, head: nn.Module, config: ModelConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.semantic_head = head
        self.config = config
        image_loss(config.semantic)  # an unknown semantic loss fails when the model is built

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, classes, H/4, W/4) semantic logits (upsampled to the image by the caller)."""
        logits: torch.Tensor = self.semantic_head(self.backbone(images))
        return logits

    def losses(self, images: torch.Tensor, targets: Targets) -> dict[str, torch.Tensor]:
        logits = self.logits(images)  # (B, C, H/4, W/4), the loss on the image's pixels
        return {"semantic": _semantic_loss(logits, images, targets, self.config)}


class InstanceNetwork(nn.Module):
    """Body + FPN + RPN + ROI head (Mask R-CNN): the instance model of the independent form."""

    def __init__(self, backbone: Backbone, rpn: RPN, roi_head: ROIHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.rpn = rpn
        self.roi_head = roi_head

    def losses(
        self, images: torch.Tensor, sizes: Sizes, targets: Targets
    ) -> dict[str, torch.Tensor]:
        return _instance_losses(self.rpn, self.roi_head, self.backbone(images), sizes, targets)

    def detect(self, images: torch.Tensor, sizes: Sizes) -> Detections:
        return _detect(self.rpn, self.roi_head, self.backbone(images), sizes)


class PanopticModel(nn.Module):
    """What both forms share: input checks, the train / eval switch and the fusion."""

    form = ""

    def __init__(self, config: ModelConfig, max_stride: int) -> None:
        super().__init__()
        self.config = config
        self.max_stride = max_stride

    def forward(
        self,
        images: torch.Tensor,
        targets: Targets | None = None,
        *,
        image_sizes: Sizes | None = None,
    ) -> dict[str, torch.Tensor] | list[PanopticPrediction]:
        """Training (`model.train()`): the loss dict. Eval: one `PanopticPrediction` per image."""
        original = (int(images.shape[-2]), int(images.shape[-1])) if images.dim() == 4 else (0, 0)
        padded = check_images(images, max_stride=self.max_stride)
        if self.training:
            if targets is None:
                raise ValueError("the model is in training mode: pass targets (or call .eval())")
            cfg = self.config
            sizes = check_targets(
                targets, padded, num_classes=cfg.num_classes, num_things=cfg.num_things
            )
            return self.losses(padded, sizes, targets)
        sizes = check_image_sizes(image_sizes, padded, original)
        with torch.no_grad():
            logits, detections = self.predict_raw(padded, sizes)
            return [
                make_prediction(
                    logits[i],
                    d,
                    sizes[i],
                    input_size=padded.shape[-2:],
                    num_stuff=self.config.num_stuff,
                    fusion=self.config.fusion,
                )
                for i, d in enumerate(detections)
            ]

    def losses(
        self, images: torch.Tensor, sizes: Sizes, targets: Targets
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def predict_raw(self, images: torch.Tensor, sizes: Sizes) -> tuple[torch.Tensor, Detections]:
        """Semantic logits (B, C, H/4, W/4) of the padded input and the detections."""
        raise NotImplementedError


class CombinedModel(PanopticModel):
    """One body + FPN, both heads (Fig. 1 right): the paper's proposal."""

    form = "combined"

    def __init__(
        self,
        backbone: Backbone,
        rpn: RPN,
        roi_head: ROIHead,
        semantic_head: nn.Module,
        config: ModelConfig,
    ) -> None:
        super().__init__(config, max(backbone.strides))
        self.backbone = backbone
        self.rpn = rpn
        self.roi_head = roi_head
        self.semantic_head = semantic_head
        image_loss(config.semantic)  # an unknown semantic loss fails when the model is built

    def losses(
        self, images: torch.Tensor, sizes: Sizes, targets: Targets
    ) -> dict[str, torch.Tensor]:
        features = self.backbone(images)  # [(B, 256, H/4, W/4), ..., (B, 256, H/64, W/64)]
        out = _instance_losses(self.rpn, self.roi_head, features, sizes, targets)
        logits = self.semantic_head(features)  # (B, C, H/4, W/4), the loss on the image's pixels
        out["semantic"] = _semantic_loss(logits, images, targets, self.config)
        return out

    def predict_raw(self, images: torch.Tensor, sizes: Sizes) -> tuple[torch.Tensor, Detections]:
        features = self.backbone(images)
        return self.semantic_head(features), _detect(self.rpn, self.roi_head, features, sizes)


class IndependentModel(PanopticModel):
    """A semantic network and a Mask R-CNN network, each with its own body (Fig. 1 left)."""

    form = "independent"

    def __init__(
        self, semantic: SemanticNetwork, instance: InstanceNetwork, config: ModelConfig
    ) -> None:
        strides = semantic.backbone.strides + instance.backbone.strides
        super().__init__(config, max(strides))
        self.semantic = semantic
        self.instance = instance

    def losses(
        self, images: torch.Tensor, sizes: Sizes, targets: Targets
    ) -> dict[str, torch.Tensor]:
        out = self.instance.losses(images, sizes, targets)
        out.update(self.semantic.losses(images, targets))
        return out

    def predict_raw(self, images: torch.Tensor, sizes: Sizes) -> tuple[torch.Tensor, Detections]:
        return self.semantic.logits(images), self.instance.detect(images, sizes)


def _instance_losses(
    rpn: RPN, roi_head: ROIHead, features: list[torch.Tensor], sizes: Sizes, targets: Targets
) -> dict[str, torch.Tensor]:
    proposals: list[torch.Tensor]
    losses: dict[str, torch.Tensor]
    proposals, losses = rpn(features, sizes, targets)
    losses.update(roi_head.losses(features, proposals, targets))
    return losses


def _detect(rpn: RPN, roi_head: ROIHead, features: list[torch.Tensor], sizes: Sizes) -> Detections:
    proposals, _ = rpn(features, sizes)
    return roi_head.detect(features, proposals, sizes)


def _semantic_loss(
    logits: torch.Tensor, images: torch.Tensor, targets: Targets, config: ModelConfig
) -> torch.Tensor:
    """§3.4's loss of the logits upsampled to the (padded) images (`upsampled_loss`)."""
    semantic = [t["semantic"] for t in targets]
    return SEMANTIC_LOSS(logits, images.shape[-2:], semantic, config.semantic)
