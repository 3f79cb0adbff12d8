"""Vision tools: bounding boxes and anchor boxes (chapter 9), and batch image transforms, including
training-time augmentation drawn per image. Models and data modules import this package; it imports neither."""

from d2l_lightning.vision.anchors import (
    assign_anchor_to_bbox,
    multibox_detection,
    multibox_prior,
    multibox_target,
    offset_boxes,
    offset_inverse,
)
from d2l_lightning.vision.boxes import (
    batched_nms,
    box_area,
    box_center_to_corner,
    box_corner_to_center,
    box_iou,
    draw_boxes,
    nms,
)
from d2l_lightning.vision.transforms import random_horizontal_flip, to_float_images

__all__ = ["box_center_to_corner", "box_corner_to_center", "random_horizontal_flip", "to_float_images"]
__all__ += ["assign_anchor_to_bbox", "batched_nms", "box_area", "box_iou", "draw_boxes", "multibox_detection",
    "multibox_prior", "multibox_target", "nms", "offset_boxes", "offset_inverse"]  # 9.3-9.4
