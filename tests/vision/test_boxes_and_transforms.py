"""d2l_lightning.vision against torchvision: box conversions, batch image transforms."""

import torch
import torch.nn.functional as F
from torchvision.ops import box_convert

from d2l_lightning.vision import (
    box_center_to_corner,
    box_corner_to_center,
    random_horizontal_flip,
    to_float_images,
)


def test_box_conversions_equal_torchvision_and_round_trip_the_books_boxes():
    boxes = torch.tensor([[60.0, 45.0, 378.0, 516.0], [400.0, 112.0, 655.0, 493.0]])  # 9.3: dog, cat
    center = box_corner_to_center(boxes)
    assert torch.equal(center, box_convert(boxes, "xyxy", "cxcywh"))
    assert torch.equal(box_center_to_corner(center), boxes)
    assert torch.equal(box_center_to_corner(center), box_convert(center, "cxcywh", "xyxy"))


def test_to_float_images_is_totensor_and_resize_for_a_batch():
    X = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    Y = to_float_images(X)
    assert Y.shape == (3, 1, 28, 28) and torch.equal(Y, X[:, None].float() / 255)
    Z = to_float_images(X, resize=32)
    assert Z.shape == (3, 1, 32, 32)
    assert torch.allclose(Z, F.interpolate(Y, size=(32, 32), mode="bilinear", align_corners=False))


def test_random_horizontal_flip_draws_per_image():
    X = torch.rand(64, 1, 4, 5)
    Y = random_horizontal_flip(X, generator=torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(y, x.flip(-1)) for x, y in zip(X, Y)])
    kept = torch.tensor([torch.equal(y, x) for x, y in zip(X, Y)])
    assert (flipped | kept).all() and 10 < flipped.sum() < 54  # each image its own coin
    assert torch.equal(random_horizontal_flip(X, p=0.0), X)
    assert torch.equal(random_horizontal_flip(X, p=1.0), X.flip(-1))
