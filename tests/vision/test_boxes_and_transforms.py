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


# --- boxes (9.3): areas, drawing, and the figures script ------------------------------------------

def test_box_area_equals_torchvision_and_draw_boxes_marks_the_edges():
    from torchvision.ops import box_area as tv_box_area

    from d2l_lightning.vision import box_area, draw_boxes

    boxes = torch.tensor([[60.0, 45.0, 378.0, 516.0], [400.0, 112.0, 655.0, 493.0]])
    assert torch.equal(box_area(boxes), tv_box_area(boxes))
    image = torch.zeros(3, 561, 728, dtype=torch.uint8)
    drawn = draw_boxes(image, boxes, ["dog", "cat"], ["blue", "red"], width=1)
    assert drawn[:, 300, 60].tolist() == [0, 0, 255] and drawn[:, 300, 655].tolist() == [255, 0, 0]
    assert drawn[:, 300, 200].tolist() == [0, 0, 0]  # inside a box: untouched
    assert draw_boxes(torch.zeros(1, 8, 8), boxes[:0]).shape == (3, 8, 8)  # float grey, no boxes


def test_boxes_demo_writes_the_books_figures(tmp_path):
    import importlib.util

    import pytest
    from torchvision.io import read_image, write_jpeg

    spec = importlib.util.spec_from_file_location(
        "boxes_demo", __import__("pathlib").Path(__file__).parents[2] / "scripts" / "boxes_demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    from d2l_lightning.errors import DataError

    with pytest.raises(DataError, match="catdog.jpg"):
        demo.main(["--data_dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    (tmp_path / "img").mkdir()
    write_jpeg(torch.full((3, 561, 728), 255, dtype=torch.uint8), str(tmp_path / "img" / "catdog.jpg"))
    paths = demo.main(["--data_dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert [p.name for p in paths] == ["9.3_bounding_boxes.png", "9.4_anchors_at_250_250.png",
                                       "9.4_anchors_to_label.png", "9.4_before_nms.png", "9.4_after_nms.png"]
    boxes = read_image(str(paths[0]))
    assert boxes.shape == (3, 561, 728)
    assert boxes[:, 300, 60].tolist() == [0, 0, 255]  # the dog's left edge, in blue
