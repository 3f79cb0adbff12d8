"""Bounding boxes (book 9.3): corner form (x1, y1, x2, y2) and centre form (cx, cy, w, h)."""

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
