"""Anchor boxes (book 9.4): generating them, labelling them for training, and turning predictions
into detections.

**The anchor convention pinned here** is the one of the MXNet code the book runs
(`contrib.nd.MultiBoxPrior`), which later editions of the book also use: anchors are centred on the
pixel centres ((j + 0.5) / w, (i + 0.5) / h), and an anchor of size s and ratio r is s·√r·h/w wide
and s/√r high in coordinates normalised by the image's width and height, i.e. s·h·√r by s·h/√r
pixels: a ratio-1 anchor is square in pixels and s is its side as a fraction of the image height.
(The book's text read literally, as its later PyTorch port did, makes it s·√r wide and s/√r high in
normalised units, centred at j / w: anchors that are not square on a non-square image.) Coordinates
are fractions of the image size, so the same anchors serve any image of that shape.

**Detections** (`multibox_detection`) keep one row per anchor in the anchors' order (rows [class,
confidence, x1, y1, x2, y2], class -1 for background and suppressed boxes); the MXNet operator sorts
the rows by confidence instead. NMS is across classes, as the book's text describes it (one list of
all non-background boxes), unless `per_class=True`.

Offsets (book 9.4.3): with anchor centre (x_a, y_a), width w_a, height h_a and its assigned box's
(x_b, y_b, w_b, h_b): ((x_b - x_a) / w_a / 0.1, (y_b - y_a) / h_a / 0.1, log(w_b / w_a) / 0.2,
log(h_b / h_a) / 0.2), the book's constants (means 0, standard deviations 0.1 and 0.2).
"""

import torch
from torch import Tensor

from d2l_lightning.vision.boxes import batched_nms, box_center_to_corner, box_corner_to_center, box_iou, nms

#: the book's offset scales: centres divided by 0.1, log sizes by 0.2
CENTER_STD, SIZE_STD = 0.1, 0.2


def multibox_prior(data: Tensor, sizes: list[float], ratios: list[float]) -> Tensor:
    """Anchors centred on every pixel of `data` (..., h, w): for sizes s1..sn and ratios r1..rm,
    the n + m - 1 pairs (s1, r1), (s2, r1) ... (sn, r1), (s1, r2) ... (s1, rm) per pixel (book
    9.4.1), in normalised corner form, shape (1, h·w·(n + m - 1), 4), pixel by pixel in row-major
    order (so `.reshape(h, w, n + m - 1, 4)[i, j]` are the anchors of pixel (i, j))."""
    h, w = data.shape[-2:]
    device = data.device
    sizes_t = torch.tensor(sizes, dtype=torch.float32, device=device)
    ratios_t = torch.tensor(ratios, dtype=torch.float32, device=device)
    s = torch.cat((sizes_t, sizes_t[0].repeat(len(ratios) - 1)))
    r = torch.cat((ratios_t[:1].repeat(len(sizes)), ratios_t[1:]))
    half_w = s * r.sqrt() * h / w / 2
    half_h = s / r.sqrt() / 2
    cy = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    cx = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    centers = torch.stack((cx, cy, cx, cy), dim=-1).reshape(h * w, 1, 4)
    offsets = torch.stack((-half_w, -half_h, half_w, half_h), dim=-1)  # (anchors per pixel, 4)
    return (centers + offsets).reshape(1, -1, 4)


def assign_anchor_to_bbox(ground_truth: Tensor, anchors: Tensor, iou_threshold: float = 0.5,
                          valid: Tensor | None = None) -> Tensor:
    """Index of the ground-truth box each anchor is assigned to, or -1 (book 9.4.3).

    The largest IoU of the whole anchor x box matrix assigns its anchor to its box; that anchor's
    row and that box's column are then discarded, and so on until every box has an anchor. Every
    other anchor gets the box it overlaps most, if that IoU exceeds `iou_threshold`.

    `ground_truth` (g, 4) or (b, g, 4), `anchors` (a, 4); `valid` (b, g) marks real boxes among
    padding. Returns (a,) or (b, a)."""
    batched = ground_truth.dim() == 3
    gt = ground_truth if batched else ground_truth[None]
    b, g = gt.shape[:2]
    iou = box_iou(anchors, gt)  # (b, a, g)
    if valid is not None:
        iou = iou.masked_fill(~valid[:, None, :], -1.0)
    if g == 0:  # images without boxes: every anchor is background
        assigned = torch.full((b, len(anchors)), -1, dtype=torch.long, device=anchors.device)
        return assigned if batched else assigned[0]
    best_iou, best_gt = iou.max(dim=2)
    assigned = torch.where(best_iou > iou_threshold, best_gt, -1)
    rows = torch.arange(b, device=anchors.device)
    work = iou.clone()
    for _ in range(g):  # each round gives every image one more box its best free anchor
        value, flat = work.flatten(1).max(dim=1)
        anchor, box = flat // g, flat % g
        take = value > 0  # only padding, discarded pairs or boxes no anchor touches are left
        assigned[rows[take], anchor[take]] = box[take]
        work[rows[take], anchor[take], :] = -1.0
        work[rows[take], :, box[take]] = -1.0
    return assigned if batched else assigned[0]


def offset_boxes(anchors: Tensor, assigned_bb: Tensor, eps: float = 1e-6) -> Tensor:
    """Offsets of boxes from their anchors (book 9.4.3, see the module docstring); (..., 4) each."""
    c_anc, c_bb = box_corner_to_center(anchors), box_corner_to_center(assigned_bb)
    xy = (c_bb[..., :2] - c_anc[..., :2]) / c_anc[..., 2:] / CENTER_STD
    wh = torch.log(eps + c_bb[..., 2:] / c_anc[..., 2:]) / SIZE_STD
    return torch.cat((xy, wh), dim=-1)


def offset_inverse(anchors: Tensor, offset_preds: Tensor) -> Tensor:
    """Boxes from anchors and predicted offsets: the inverse of `offset_boxes`; (..., 4) each."""
    c_anc = box_corner_to_center(anchors)
    xy = offset_preds[..., :2] * CENTER_STD * c_anc[..., 2:] + c_anc[..., :2]
    wh = torch.exp(offset_preds[..., 2:] * SIZE_STD) * c_anc[..., 2:]
    return box_center_to_corner(torch.cat((xy, wh), dim=-1))


def multibox_target(anchors: Tensor, labels: Tensor,
                    iou_threshold: float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
    """Training targets of the anchors (book 9.4.3, the MXNet `MultiBoxTarget`).

    Args:
        anchors: (1, a, 4) or (a, 4) corner boxes.
        labels: (b, g, 5) ground truth per image, rows [class, x1, y1, x2, y2] with classes from 0;
            rows of class -1 are padding (images with fewer boxes).

    Returns:
        offsets (b, a·4): the offsets of each anchor's assigned box, 0 for background anchors;
        mask (b, a·4): 1 for the four offsets of each anchor with a box, else 0;
        class labels (b, a): 0 for background, the box's class + 1 otherwise.
    """
    anchors = anchors.reshape(-1, 4)
    valid = labels[..., 0] >= 0
    assigned = assign_anchor_to_bbox(labels[..., 1:], anchors, iou_threshold, valid)
    positive = assigned >= 0
    index = assigned.clamp(min=0)
    boxes = torch.gather(labels[..., 1:], 1, index[..., None].expand(-1, -1, 4))
    classes = torch.gather(labels[..., 0], 1, index).long() + 1
    mask = positive[..., None].float().expand(-1, -1, 4)
    offsets = offset_boxes(anchors[None], boxes) * mask
    class_labels = torch.where(positive, classes, 0)
    return offsets.flatten(1), mask.flatten(1), class_labels


def multibox_detection(cls_probs: Tensor, offset_preds: Tensor, anchors: Tensor, nms_threshold: float = 0.5,
                       pos_threshold: float = 0.01, per_class: bool = False, nms_topk: int = -1) -> Tensor:
    """Predicted boxes after non-maximum suppression (book 9.4.4, the MXNet `MultiBoxDetection`).

    Args:
        cls_probs: (b, 1 + classes, a) class probabilities of each anchor, background first.
        offset_preds: (b, a·4) predicted offsets.
        anchors: (1, a, 4) or (a, 4).
        nms_threshold: boxes overlapping a more confident one by more than this IoU are removed.
        pos_threshold: boxes less confident than this are background (the MXNet default 0.01).
        per_class: NMS within each class instead of across classes.
        nms_topk: only the this many most confident boxes enter NMS, the others are background
            (-1: all, the MXNet operator's default); an untrained detector's thousands of
            confident boxes would make NMS slow.

    Returns:
        (b, a, 6): per anchor, in the anchors' order, [class (from 0; -1 for background or
        suppressed), confidence, x1, y1, x2, y2]; the confidence is that of the most probable
        non-background class.
    """
    anchors = anchors.reshape(-1, 4)
    conf, cls = cls_probs[:, 1:].max(dim=1)  # (b, a) each
    boxes = offset_inverse(anchors[None], offset_preds.reshape(offset_preds.shape[0], -1, 4))
    out = []
    for b in range(cls_probs.shape[0]):
        candidates = torch.nonzero(conf[b] >= pos_threshold).flatten()
        if 0 <= nms_topk < len(candidates):
            candidates = candidates[conf[b, candidates].topk(nms_topk).indices]
        if per_class:
            kept = batched_nms(boxes[b, candidates], conf[b, candidates], cls[b, candidates], nms_threshold)
        else:
            kept = nms(boxes[b, candidates], conf[b, candidates], nms_threshold)
        label = torch.full_like(cls[b], -1)
        label[candidates[kept]] = cls[b, candidates[kept]]
        out.append(torch.cat((label[:, None].to(boxes.dtype), conf[b, :, None], boxes[b]), dim=1))
    return torch.stack(out)
