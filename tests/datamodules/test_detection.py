"""The generated detection data: a function of (seed, split, index), tight boxes on the drawn
shapes, box-padding batches."""

import pytest
import torch

from d2l_lightning.datamodules.detection import SHAPES, ShapeDetection, ShapeDetectionSet, render_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_images_depend_on_seed_split_and_index_only():
    a, b = (ShapeDetectionSet(20, "train", seed=0, image_size=16) for _ in range(2))
    a.chunk = b.chunk = 8  # images are rendered 8 at a time
    x, y = b[19]  # another order: the last chunk first
    assert torch.equal(a[19][0], x) and torch.equal(a[19][1], y)
    assert torch.equal(a[3][0], b[3][0]) and len(b._chunks) == 2
    assert not torch.equal(a[3][0], ShapeDetectionSet(20, "val", seed=0, image_size=16)[3][0])
    assert not torch.equal(a[3][0], ShapeDetectionSet(20, "train", seed=1, image_size=16)[3][0])


def test_boxes_are_tight_around_the_drawn_shapes():
    images, labels = render_images(torch.Generator().manual_seed(0), 32, size=32, max_objects=3)
    assert images.dtype == torch.uint8 and images.shape == (32, 3, 32, 32)
    valid = labels[..., 0] >= 0
    assert valid[:, 0].all() and valid.sum() > 32  # every image has a shape, many have several
    assert set(labels[valid][:, 0].long().tolist()) == set(range(len(SHAPES)))
    boxes = labels[valid][:, 1:]
    assert ((boxes >= 0) & (boxes <= 1)).all() and (boxes[:, 2:] > boxes[:, :2] + 0.1).all()
    # a lone shape: the pixels that differ from the background-free render lie inside its box, and
    # reach its sides (within a pixel)
    single = render_images(torch.Generator().manual_seed(1), 16, size=48, max_objects=1)
    for image, (cls, *box) in zip(single[0], single[1][:, 0].tolist()):
        x1, y1, x2, y2 = (v * 48 for v in box)
        inside = torch.zeros(48, 48, dtype=torch.bool)
        inside[int(y1):int(y2) + 1, int(x1):int(x2) + 1] = True
        # the shape has one colour: its pixels are the most common colour inside the box
        pixels = image[:, inside].T
        colours, counts = pixels.unique(dim=0, return_counts=True)
        shape = (image.permute(1, 2, 0) == colours[counts.argmax()]).all(dim=-1)
        ys, xs = torch.nonzero(shape, as_tuple=True)
        assert inside[ys, xs].all(), SHAPES[int(cls)]
        assert abs(xs.min() - x1) <= 1.5 and abs(xs.max() + 1 - x2) <= 1.5, SHAPES[int(cls)]
        assert abs(ys.min() - y1) <= 1.5 and abs(ys.max() + 1 - y2) <= 1.5, SHAPES[int(cls)]


def test_batches_pad_boxes_and_images_are_float():
    dm = ShapeDetection(batch_size=8, num_train=20, num_val=10, image_size=16)
    dm.setup("fit")
    assert len(dm.train_set) == 20 and len(dm.val_set) == len(dm.test_set) == 10
    X, Y = dm.transform(next(iter(dm.train_dataloader())))
    assert X.shape == (8, 3, 16, 16) and X.dtype == torch.float32 and 0 <= X.min() and X.max() <= 1
    counts = [len(dm.train_set[i][1]) for i in range(20)]
    assert Y.shape[0] == 8 and Y.shape[1] <= 3 and Y.shape[2] == 5
    assert len(set(counts)) > 1  # ragged items: padded rows have class -1
    assert ((Y[..., 0] == -1) | (Y[..., 0] >= 0)).all()
    X2, Y2 = dm.example_batch(size=2)
    assert X2.shape == (2, 3, 16, 16) and Y2.shape[1] == max(counts[:2])
