"""Book 9.4 anchor boxes: every value the book's section prints (for our pinned anchor convention,
see d2l_lightning.vision.anchors), and IoU and NMS against torchvision.ops."""

import pytest
import torch
from torchvision import ops

from d2l_lightning.vision import (
    assign_anchor_to_bbox,
    batched_nms,
    box_iou,
    multibox_detection,
    multibox_prior,
    multibox_target,
    nms,
    offset_boxes,
    offset_inverse,
)

# 9.4.3: dog and cat (class, corners as fractions of the image), and the five anchors A0..A4
GROUND_TRUTH = torch.tensor([[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]])
ANCHORS = torch.tensor([[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
                        [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]])


def random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy, wh = torch.rand(n, 2, generator=g), torch.rand(n, 2, generator=g) * 0.4 + 0.01
    return torch.cat((xy, xy + wh), dim=1)


def test_multibox_prior_on_the_books_catdog_shape():
    h, w = 561, 728
    Y = multibox_prior(torch.zeros(1, 3, h, w), sizes=[0.75, 0.5, 0.25], ratios=[1, 2, 0.5])
    assert Y.shape == (1, h * w * 5, 4)  # 2,042,040 anchors, n + m - 1 = 5 per pixel
    boxes = Y.reshape(h, w, 5, 4)
    # pixel centre (250.5/728, 250.5/561); s=0.75, r=1 is 0.75 x 0.75 of the height, square in pixels
    expected = torch.tensor([250.5 / w - 0.75 * h / w / 2, 250.5 / h - 0.375,
                             250.5 / w + 0.75 * h / w / 2, 250.5 / h + 0.375])
    assert torch.allclose(boxes[250, 250, 0], expected, atol=1e-6)
    assert boxes[250, 250, 0].mul(100).round().div(100).tolist() == pytest.approx([0.06, 0.07, 0.63, 0.82])
    pixels = (boxes[250, 250] * torch.tensor([w, h, w, h])).double()
    width, height = pixels[:, 2] - pixels[:, 0], pixels[:, 3] - pixels[:, 1]
    assert torch.allclose(width / height, torch.tensor([1, 1, 1, 2, 0.5], dtype=torch.double), atol=1e-3)
    assert torch.allclose(height[:3], torch.tensor([0.75, 0.5, 0.25], dtype=torch.double) * h, atol=1e-2)


def test_iou_of_the_books_anchors_and_boxes_equals_torchvision():
    iou = box_iou(ANCHORS, GROUND_TRUTH[:, 1:])
    book = torch.tensor([[0.0536, 0], [0.1417, 0], [0, 0.5657], [0, 0.2059], [0, 0.7459]])
    assert torch.allclose(iou, book, atol=5e-5)
    a, b = random_boxes(50, 0), random_boxes(40, 1)
    assert torch.allclose(box_iou(a, b), ops.box_iou(a, b), atol=1e-6)


def test_multibox_target_reproduces_the_books_labels_mask_and_offsets():
    offsets, mask, labels = multibox_target(ANCHORS[None], GROUND_TRUTH[None])
    assert labels.tolist() == [[0, 1, 2, 0, 2]]
    assert mask.tolist() == [[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]]
    book = torch.tensor([[0, 0, 0, 0, 1.4, 10, 2.594, 7.1754, -1.2, 0.26882, 1.6824, -1.5655,
                          0, 0, 0, 0, -0.57143, -1.0, 4.1723e-06, 0.62582]])
    assert torch.allclose(offsets, book, atol=1e-4)
    # the assignment: A4-cat first (largest IoU), then A1-dog; A2 passes the 0.5 threshold, A0, A3 not
    assert assign_anchor_to_bbox(GROUND_TRUTH[:, 1:], ANCHORS).tolist() == [-1, 0, 1, -1, 1]


def test_multibox_target_pads_and_batches():
    padded = torch.cat((GROUND_TRUTH, torch.tensor([[-1.0, 0, 0, 0, 0]])))  # a padding row
    offsets, mask, labels = multibox_target(ANCHORS, torch.stack((padded, padded.flip(0))))
    alone = multibox_target(ANCHORS, GROUND_TRUTH[None])
    for got, expected in zip((offsets, mask, labels), alone):
        assert torch.allclose(got.float(), expected.expand_as(got).float())
    none = multibox_target(ANCHORS, torch.tensor([[[-1.0, 0, 0, 0, 0]]]))
    assert none[2].tolist() == [[0] * 5] and none[1].sum() == 0


def test_offset_inverse_undoes_offset_boxes():
    anchors, boxes = random_boxes(30, 2), random_boxes(30, 3)
    assert torch.allclose(offset_inverse(anchors, offset_boxes(anchors, boxes, eps=0)), boxes, atol=1e-5)


def test_multibox_detection_reproduces_the_books_nms_rows():
    anchors = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95],
                            [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]])
    cls_probs = torch.tensor([[0.0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])  # background, dog, cat
    out = multibox_detection(cls_probs[None], torch.zeros(1, 16), anchors[None], nms_threshold=0.5)
    expected = torch.tensor([[0, 0.9, 0.1, 0.08, 0.52, 0.92], [-1, 0.8, 0.08, 0.2, 0.56, 0.95],
                             [-1, 0.7, 0.15, 0.3, 0.62, 0.91], [1, 0.9, 0.55, 0.2, 0.9, 0.88]])
    assert torch.allclose(out[0], expected, atol=1e-6)
    iou = box_iou(anchors, anchors)
    assert iou[0, 1].item() == pytest.approx(0.7368, abs=1e-4)
    assert iou[0, 2].item() == pytest.approx(0.5454, abs=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_nms_equals_torchvision(seed):
    boxes, scores = random_boxes(200, seed), torch.rand(200, generator=torch.Generator().manual_seed(seed))
    classes = torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(seed))
    for threshold in (0.3, 0.5, 0.7):
        assert torch.equal(nms(boxes, scores, threshold), ops.nms(boxes, scores, threshold))
        assert torch.equal(batched_nms(boxes, scores, classes, threshold),
                           ops.batched_nms(boxes, scores, classes, threshold))


def test_multibox_detection_per_class_and_topk():
    anchors = random_boxes(60, 4)
    g = torch.Generator().manual_seed(4)
    probs = torch.softmax(torch.randn(2, 4, 60, generator=g), dim=1)
    offsets = torch.randn(2, 240, generator=g) * 0.5
    boxes = offset_inverse(anchors[None], offsets.reshape(2, 60, 4))
    for per_class in (False, True):
        out = multibox_detection(probs, offsets, anchors[None], 0.5, pos_threshold=0.0, per_class=per_class)
        conf, cls = probs[:, 1:].max(dim=1)
        for b in range(2):
            kept = (ops.batched_nms(boxes[b], conf[b], cls[b], 0.5) if per_class else
                    ops.nms(boxes[b], conf[b], 0.5))
            assert set(torch.nonzero(out[b, :, 0] >= 0).flatten().tolist()) == set(kept.tolist())
            assert torch.equal(out[b, kept, 0].long(), cls[b, kept])
    top = multibox_detection(probs, offsets, anchors[None], 1.0, pos_threshold=0.0, nms_topk=5)
    assert ((top[:, :, 0] >= 0).sum(dim=1) == 5).all()
