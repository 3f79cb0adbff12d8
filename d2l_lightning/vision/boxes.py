"""Bounding boxes (book 9.3, 9.4): corner form (x1, y1, x2, y2) and centre form (cx, cy, w, h),
intersection over union, non-maximum suppression, and drawing boxes on an image.

Boxes are continuous coordinates (pixels, or fractions of the image's width and height): a box's
area is (x2 - x1)(y2 - y1), with no "+1 pixel" (as the book's IoU examples and `torchvision.ops`)."""

import numpy as np
import torch
from torch import Tensor


def box_corner_to_center(boxes: Tensor) -> Tensor:
    """(..., 4) boxes (upper-left x, y, lower-right x, y) -> (centre x, centre y, width, height)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def box_center_to_corner(boxes: Tensor) -> Tensor:
    """(..., 4) boxes (centre x, centre y, width, height) -> (upper-left x, y, lower-right x, y)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """Areas of (..., 4) corner boxes."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union (the Jaccard index of the boxes' areas, book 9.4.2) of every pair:
    corner boxes (..., n, 4) and (..., m, 4) -> (..., n, m). Leading batch dimensions broadcast."""
    upper_left = torch.maximum(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
    lower_right = torch.minimum(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    inter = (lower_right - upper_left).clamp(min=0).prod(-1)
    union = box_area(boxes1)[..., :, None] + box_area(boxes2)[..., None, :] - inter
    return inter / union


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression (book 9.4.4): indices of the boxes kept, by decreasing score. The most
    confident box is kept and every other box whose IoU with it exceeds `iou_threshold` is removed;
    then the next most confident remaining box, and so on. Same result as `torchvision.ops.nms`."""
    order = scores.argsort(descending=True, stable=True)
    # suppresses[i, j]: box i, more confident than box j, overlaps it too much. All IoUs at once on
    # the device; the greedy pass over them in NumPy on the CPU (a tensor operation per box costs
    # ~100x more than NumPy's on rows of a few hundred).
    suppresses = torch.triu(box_iou(boxes[order], boxes[order]) > iou_threshold, diagonal=1).cpu().numpy()
    keep = np.ones(len(order), dtype=bool)
    for i in range(len(order)):
        if keep[i]:  # a kept box removes the less confident boxes it overlaps
            keep &= ~suppresses[i]
    return order[torch.from_numpy(keep).to(boxes.device)]


def batched_nms(boxes: Tensor, scores: Tensor, classes: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each class separately (boxes of different classes never suppress each other):
    indices kept, by decreasing score, as `torchvision.ops.batched_nms`."""
    keep = [torch.nonzero(classes == c).flatten() for c in classes.unique()]
    keep = torch.cat([idx[nms(boxes[idx], scores[idx], iou_threshold)] for idx in keep]) if keep else \
        torch.zeros(0, dtype=torch.long, device=boxes.device)
    return keep[scores[keep].argsort(descending=True, stable=True)]


def draw_boxes(image: Tensor, boxes: Tensor, labels: list[str] | None = None,
               colors: list[str] | str | None = None, width: int = 2) -> Tensor:
    """`image` (uint8 (3, h, w), or float in [0, 1]) with corner boxes in pixels drawn on it and
    labelled (the book's `show_bboxes`, with torchvision's `draw_bounding_boxes`); uint8 result."""
    from torchvision.utils import draw_bounding_boxes

    if image.is_floating_point():
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    colors = colors or ["blue", "green", "red", "magenta", "cyan"]
    if isinstance(colors, list):  # cycles, as the book's `show_bboxes`
        colors = [colors[i % len(colors)] for i in range(len(boxes))]
    return draw_bounding_boxes(image, boxes.float().reshape(-1, 4), labels=labels, colors=colors, width=width)
