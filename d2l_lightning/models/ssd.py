"""Single-shot multibox detection (beyond the book: its 9.4 builds every piece of the detector and
stops; the later edition trains a small one). The family `Detector` holds what any anchor-based
detector shares: the loss, the metrics, mean average precision and predict; `TinySSD` is the
network.

A detector's `forward` returns (anchors (1, a, 4), class scores (n, a, 1 + classes), offsets
(n, a·4)); targets are the data's box tables (n, k, 5), rows [class, x1, y1, x2, y2] padded with
class -1 (see `d2l_lightning.vision.anchors` for the anchor convention and the offsets).
"""

from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from d2l_lightning.core.module import D2LModule
from d2l_lightning.errors import ConfigError, check_range
from d2l_lightning.vision import multibox_detection, multibox_prior, multibox_target


class Detector(D2LModule):
    """Anchor-based detectors: loss, metrics, mean average precision, predicted boxes.

    - loss: per image, the cross-entropy of every anchor's class (background included) averaged
      over the anchors, plus the L1 error of the offsets of the anchors that have a box (the others
      masked to 0) averaged over all offsets; the mean over the images (the later edition's loss);
    - `<stage>/cls_err`: the fraction of anchors whose most probable class is wrong;
      `<stage>/bbox_mae`: the mean absolute error of the offsets of the anchors that have a box;
    - `val/map`, `val/map_50` (and `test/...`): COCO mean average precision over IoU 0.5:0.95 and at
      IoU 0.5, by torchmetrics' `MeanAveragePrecision` (its pycocotools backend), on the boxes left
      after NMS with a confidence of at least 0.01 (the book's `MultiBoxDetection` default), at most
      100 per image;
    - predict: per image, the boxes with a confidence of at least `detection_threshold`.

    Args:
        num_classes: object classes (background not counted).
        nms_threshold: NMS removes a box that overlaps a more confident one by more IoU (book: 0.5).
        per_class_nms: suppress only within a class (the book's text: across classes).
        detection_threshold: the confidence a predicted box needs to be written by `predict`.
    """

    monitor = "val/map_50"
    monitor_mode = "max"
    summary_depth = 2
    #: detections per image that mAP sees, and the lowest confidence among them; boxes entering NMS
    max_detections, map_threshold, nms_topk = 100, 0.01, 400

    def __init__(self, num_classes: int = 5, nms_threshold: float = 0.5, per_class_nms: bool = False,
                 detection_threshold: float = 0.5, optimizer: OptimizerCallable | None = None,
                 scheduler: LRSchedulerCallable | None = None):
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        check_range("num_classes", num_classes, ">= 1")
        check_range("nms_threshold", nms_threshold, "[0, 1]")
        check_range("detection_threshold", detection_threshold, "[0, 1]")
        self.num_classes, self.nms_threshold, self.per_class_nms = num_classes, nms_threshold, per_class_nms
        self.detection_threshold = detection_threshold
        self._targets: tuple[Tensor, tuple[Tensor, Tensor, Tensor]] | None = None
        self._map: dict[str, Any] = {}

    def build(self, datamodule) -> None:
        classes = getattr(datamodule, "classes", None)
        if classes is not None and len(classes) != self.num_classes:
            raise ConfigError(f"model.init_args.num_classes is {self.num_classes} but the data has "
                              f"{len(classes)} classes ({', '.join(classes)}); set it to {len(classes)}.")

    def targets(self, anchors: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(offsets, mask, class labels) of the anchors for a batch's boxes, computed once per batch
        (the loss and the metrics both need them)."""
        if self._targets is None or self._targets[0] is not labels:
            self._targets = (labels, multibox_target(anchors, labels))
        return self._targets[1]

    def loss(self, outputs: tuple[Tensor, Tensor, Tensor], target: Tensor) -> Tensor:
        anchors, cls_preds, bbox_preds = outputs
        bbox_labels, bbox_masks, cls_labels = self.targets(anchors, target)
        n = cls_preds.shape[0]
        cls = F.cross_entropy(cls_preds.reshape(-1, cls_preds.shape[-1]), cls_labels.reshape(-1),
                              reduction="none").reshape(n, -1).mean(dim=1)
        bbox = F.l1_loss(bbox_preds * bbox_masks, bbox_labels * bbox_masks, reduction="none").mean(dim=1)
        return (cls + bbox).mean()

    def update_metrics(self, outputs: tuple[Tensor, Tensor, Tensor], target: Tensor, stage: str,
                       weight: Tensor | int) -> None:
        anchors, cls_preds, bbox_preds = outputs
        bbox_labels, bbox_masks, cls_labels = self.targets(anchors, target)
        self.log_mean(f"{stage}/cls_err", (cls_preds.argmax(dim=-1) != cls_labels).float().mean(), weight)
        positives = bbox_masks.sum()
        if positives > 0:  # weighted by the number of offsets it averages
            mae = ((bbox_preds - bbox_labels).abs() * bbox_masks).sum() / positives
            self.log_mean(f"{stage}/bbox_mae", mae, positives)
        if stage in ("val", "test"):
            self.update_map(stage, self.detect(outputs, self.map_threshold), target)

    # --- detections -------------------------------------------------------------------------------
    def detect(self, outputs: tuple[Tensor, Tensor, Tensor], threshold: float) -> list[Tensor]:
        """Per image, the boxes left after NMS with confidence >= `threshold`, most confident first,
        at most `max_detections`: (k, 6) rows [class, confidence, x1, y1, x2, y2]."""
        anchors, cls_preds, bbox_preds = outputs
        probs = F.softmax(cls_preds.float(), dim=-1).permute(0, 2, 1)
        rows = multibox_detection(probs, bbox_preds.float(), anchors, self.nms_threshold, threshold,
                                  self.per_class_nms, self.nms_topk)
        out = []
        for r in rows:
            r = r[r[:, 0] >= 0]
            out.append(r[r[:, 1].argsort(descending=True, stable=True)][: self.max_detections])
        return out

    def update_map(self, stage: str, detections: list[Tensor], target: Tensor) -> None:
        metric = self._map.get(stage)
        if metric is None:
            from torchmetrics.detection import MeanAveragePrecision

            # not a child module: its state never enters checkpoints or the model summary
            metric = self._map[stage] = MeanAveragePrecision(box_format="xyxy", iou_type="bbox")
        metric.to(self.device)
        preds = [{"boxes": d[:, 2:], "scores": d[:, 1], "labels": d[:, 0].long()} for d in detections]
        truth = [{"boxes": t[t[:, 0] >= 0, 1:], "labels": t[t[:, 0] >= 0, 0].long()} for t in target]
        metric.update(preds, truth)

    def _log_map(self, stage: str) -> None:
        metric = self._map.pop(stage, None)
        if metric is None:
            return
        result = metric.compute()  # gathered from every DDP rank by torchmetrics
        for key, name in (("map", "map"), ("map_50", "map_50")):
            self.log(f"{stage}/{name}", result[key].float().to(self.device), on_step=False, on_epoch=True,
                     prog_bar=stage != "test", rank_zero_only=False)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_map("val")

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._log_map("test")

    def predict_outputs(self, outputs: tuple[Tensor, Tensor, Tensor], target: Tensor | None) -> dict[str, list]:
        return {"detections": [d.cpu() for d in self.detect(outputs, self.detection_threshold)]}


def down_sample_blk(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions with batch norm and ReLU, then 2x2 max pooling: half the height and
    width (the later edition's `down_sample_blk`)."""
    layers: list[nn.Module] = []
    for c in (in_channels, out_channels):
        layers += [nn.Conv2d(c, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class TinySSD(Detector):
    """A small single-shot multibox detector (the later edition's `TinySSD`, sized for small
    images): a base network of down-sampling blocks, then one down-sampling block per further scale
    and a global max pooling for the last; at each of the `len(sizes)` scales, anchors of
    `sizes[i]` and `ratios` on every pixel of the feature map and a 3x3 convolution each for the
    anchors' class scores and offsets.

    Args:
        base_channels: the base network's blocks (64-pixel images -> 16x16 with two blocks).
        channels: the channels of the further scales.
        sizes: anchor sizes per scale (fractions of the image side), small objects first.
        ratios: anchor aspect ratios (width / height), the same at every scale.
    """

    def __init__(self, num_classes: int = 5, base_channels: list[int] | None = None, channels: int = 64,
                 sizes: list[list[float]] | None = None, ratios: list[float] | None = None,
                 nms_threshold: float = 0.5, per_class_nms: bool = False, detection_threshold: float = 0.5,
                 optimizer: OptimizerCallable | None = None, scheduler: LRSchedulerCallable | None = None):
        super().__init__(num_classes, nms_threshold, per_class_nms, detection_threshold, optimizer, scheduler)
        base_channels = list(base_channels or [16, 32])
        self.sizes = [list(s) for s in (sizes or [[0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79],
                                                  [0.88, 0.961]])]
        self.ratios = list(ratios or [1.0, 2.0, 0.5])
        if len(self.sizes) < 2 or any(not s for s in self.sizes) or not self.ratios:
            raise ConfigError("sizes must list anchor sizes for at least two scales, e.g. [[0.2, 0.272], "
                              "[0.37, 0.447]], and ratios at least one ratio; "
                              f"got sizes {sizes}, ratios {ratios}.")
        if len({len(s) for s in self.sizes}) != 1:
            raise ConfigError("every scale needs as many anchor sizes (the same anchors per pixel); "
                              f"got sizes {sizes}.")
        check_range("channels", channels, ">= 1")
        num_anchors = len(self.sizes[0]) + len(self.ratios) - 1
        blocks, widths, c = [], [], 3
        for out in base_channels:  # the base network is the first block
            blocks.append(down_sample_blk(c, out))
            c = out
        blocks = [nn.Sequential(*blocks)]
        widths.append(c)
        for _ in range(len(self.sizes) - 2):
            blocks.append(down_sample_blk(c, channels))
            c = channels
            widths.append(c)
        blocks.append(nn.AdaptiveMaxPool2d((1, 1)))
        widths.append(c)
        self.blocks = nn.ModuleList(blocks)
        self.cls_predictors = nn.ModuleList(nn.Conv2d(w, num_anchors * (num_classes + 1), 3, padding=1)
                                            for w in widths)
        self.bbox_predictors = nn.ModuleList(nn.Conv2d(w, num_anchors * 4, 3, padding=1) for w in widths)

    def forward(self, X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        anchors, cls_preds, bbox_preds = [], [], []
        for blk, sizes, cls_pred, bbox_pred in zip(self.blocks, self.sizes, self.cls_predictors,
                                                   self.bbox_predictors):
            X = blk(X)
            anchors.append(multibox_prior(X, sizes, self.ratios))
            # (n, channels, h, w) -> (n, h·w·channels): pixel by pixel, as the anchors
            cls_preds.append(cls_pred(X).permute(0, 2, 3, 1).flatten(1))
            bbox_preds.append(bbox_pred(X).permute(0, 2, 3, 1).flatten(1))
        cls = torch.cat(cls_preds, dim=1)
        return torch.cat(anchors, dim=1), cls.reshape(cls.shape[0], -1, self.num_classes + 1), \
            torch.cat(bbox_preds, dim=1)
