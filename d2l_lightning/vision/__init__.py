"""Vision tools: bounding boxes (chapter 9) and batch image transforms, including training-time
augmentation drawn per image. Models and data modules import this package; it imports neither."""

from d2l_lightning.vision.boxes import box_center_to_corner, box_corner_to_center
from d2l_lightning.vision.transforms import random_horizontal_flip, to_float_images

__all__ = ["box_center_to_corner", "box_corner_to_center", "random_horizontal_flip", "to_float_images"]
