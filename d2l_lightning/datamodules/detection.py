"""A generated object-detection data set (beyond the book, for the SSD of its later edition): shapes
of five classes pasted at random sizes, aspect ratios, colours and positions on textured
backgrounds, with their bounding boxes and classes.

Every image is a function of (seed, split, index) alone: the same seed gives the same data on any
machine and in any order, and train, validation and test are different draws. Images are rendered
on first use and kept in memory (a few milliseconds' work per hundred images), so the data needs no
files, no download and no data folder.
"""

import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from d2l_lightning.core.datamodule import _DATA_SALT, D2LDataModule
from d2l_lightning.errors import ConfigError, check_range
from d2l_lightning.vision import draw_boxes, to_float_images
from d2l_lightning.vision.boxes import box_iou

SHAPES = ("circle", "square", "triangle", "ring", "cross")
SPLITS = {"train": 0, "val": 1, "test": 2}


def _shape_mask(shape: int, u: Tensor, v: Tensor) -> Tensor:
    """Pixels of shape number `shape` at coordinates u, v in [-1, 1] across its box (v down); each
    shape touches all four sides of its box, so the box is tight."""
    name = SHAPES[shape]
    if name == "square":
        return torch.ones_like(u, dtype=torch.bool)
    if name == "triangle":  # apex up
        return u.abs() <= (v + 1) / 2
    if name == "cross":
        return (u.abs() <= 0.3) | (v.abs() <= 0.3)
    r2 = u * u + v * v
    return (r2 <= 1) & (r2 >= 0.3) if name == "ring" else r2 <= 1


def render_images(generator: torch.Generator, n: int, size: int = 64, max_objects: int = 3,
                  scale: tuple[float, float] = (0.15, 0.5)) -> tuple[Tensor, Tensor]:
    """`n` images (n, 3, size, size) uint8 and their boxes (n, max_objects, 5): rows [class, x1, y1,
    x2, y2] with corners as fractions of the image size, padded with rows of class -1.

    Each image has 1 to `max_objects` shapes, each s·√a wide and s/√a high for a size s drawn from
    `scale` (fractions of the image side) and an aspect ratio a from 3:4 to 4:3, in a colour that
    stands out from the background under it; a shape that would overlap one already placed by an
    IoU above 0.1 is left out. The whole batch is drawn at once (one Python step per shape slot)."""
    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator)

    # texture: smooth colour blotches, stripes at a random angle and frequency, pixel noise
    image = F.interpolate(0.2 + 0.6 * rand(n, 3, 4, 4), size=(size, size), mode="bilinear", align_corners=False)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    ranges = torch.tensor([math.pi, 6.0, 2 * math.pi, 0.2]).reshape(4, 1, 1, 1, 1)
    angle, freq, phase, amp = rand(4, n, 1, 1, 1) * ranges
    image = image + amp * torch.sin(2 * math.pi * (freq + 2) * (xx * angle.cos() + yy * angle.sin()) + phase)
    image = image + 0.04 * torch.randn(n, 3, size, size, generator=generator)

    labels = torch.zeros(n, max_objects, 5)
    labels[:, :, 0] = -1
    count = 1 + (rand(n) * max_objects).long()
    for k in range(max_objects):
        shape = (rand(n) * len(SHAPES)).long()
        side = scale[0] + (scale[1] - scale[0]) * rand(n)
        aspect = torch.exp(math.log(4 / 3) * (2 * rand(n) - 1))
        w, h = (side * aspect.sqrt()).clamp(max=0.95), (side / aspect.sqrt()).clamp(max=0.95)
        x1, y1 = rand(n) * (1 - w), rand(n) * (1 - h)
        box = torch.stack((x1, y1, x1 + w, y1 + h), dim=1)
        place = k < count
        if k:
            overlap = box_iou(box[:, None], labels[:, :k, 1:])[:, 0]  # (n, k); padding rows have IoU 0
            place &= (overlap <= 0.1).all(dim=1)
        x1, y1, w, h = (t[:, None, None] for t in (x1, y1, w, h))
        inside = (xx >= x1) & (xx <= x1 + w) & (yy >= y1) & (yy <= y1 + h)  # (n, size, size)
        u, v = 2 * (xx - x1) / w - 1, 2 * (yy - y1) / h - 1
        mask = torch.zeros_like(inside)
        for c in range(len(SHAPES)):
            chosen = place & (shape == c)
            mask[chosen] = inside[chosen] & _shape_mask(c, u[chosen], v[chosen])
        under = (image * inside[:, None]).sum(dim=(2, 3)) / inside.sum(dim=(1, 2)).clamp(min=1)[:, None]
        color = rand(n, 3)
        close = (color - under).abs().mean(dim=1, keepdim=True) < 0.3
        color = torch.where(close, (under + 0.5) % 1.0, color)  # each channel half a turn away
        image = torch.where(mask[:, None], color[:, :, None, None], image)
        labels[place, k] = torch.cat((shape[:, None].float(), box), dim=1)[place]
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), labels


class ShapeDetectionSet(Dataset):
    """`num_images` generated images of one split; item i is (uint8 image (3, s, s), boxes (k, 5)).
    Images are rendered `chunk` at a time from (seed, split, i // chunk) on first use, then kept."""

    chunk = 64

    def __init__(self, num_images: int, split: str = "train", seed: int = 0, image_size: int = 64,
                 max_objects: int = 3, scale: tuple[float, float] = (0.15, 0.5)):
        self.num_images, self.split, self.seed = num_images, split, seed
        self.image_size, self.max_objects, self.scale = image_size, max_objects, tuple(scale)
        self._chunks: dict[int, tuple[Tensor, Tensor]] = {}

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        if not -self.num_images <= i < self.num_images:
            raise IndexError(f"image {i} of a split of {self.num_images}")
        i %= self.num_images
        chunk = i // self.chunk
        if chunk not in self._chunks:
            # one stream per chunk of images, apart from the training seed's (see data_generator)
            mixed = ((_DATA_SALT + self.seed) * 1_000_003 + SPLITS[self.split]) * 10_000_019 + chunk
            g = torch.Generator().manual_seed(mixed % 2**63)
            n = min(self.chunk, self.num_images - chunk * self.chunk)
            self._chunks[chunk] = render_images(g, n, self.image_size, self.max_objects, self.scale)
        images, labels = self._chunks[chunk]
        boxes = labels[i % self.chunk]
        return images[i % self.chunk], boxes[boxes[:, 0] >= 0]


def pad_boxes(labels: list[Tensor]) -> Tensor:
    """Box tables of different lengths (k_i, 5) -> (n, max k_i, 5), padded with rows of class -1
    (the padding that `multibox_target` skips); at least one row."""
    rows = max(1, max(len(t) for t in labels))
    out = torch.zeros(len(labels), rows, 5)
    out[:, :, 0] = -1
    for i, t in enumerate(labels):
        out[i, : len(t)] = t
    return out


class ShapeDetection(D2LDataModule):
    """Object detection on generated images (beyond the book): circles, squares, triangles, rings
    and crosses on textured backgrounds. Batches are (images, boxes): images (n, 3, s, s) float in
    [0, 1], boxes (n, k, 5) rows [class, x1, y1, x2, y2] in fractions of the image size, padded with
    class -1. `val` and `test` are two more draws of `num_val` images each; `predict` runs on test.

    Args:
        batch_size: images per batch.
        num_train: training images.
        num_val: validation images (and as many test images).
        image_size: side of the square images in pixels.
        max_objects: each image has 1 to this many shapes.
        scale: (smallest, largest) shape size as a fraction of the image side.
        seed: the data's seed (apart from the training seed: the same data for every run).
        predict_images: how many images `predict` writes with their detections drawn.
    """

    classes = SHAPES
    prediction_filename = "detections.csv"

    def __init__(self, batch_size: int = 32, num_train: int = 2000, num_val: int = 500, image_size: int = 64,
                 max_objects: int = 3, scale: tuple[float, float] = (0.15, 0.5), seed: int = 0,
                 predict_images: int = 16, num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        check_range("num_train", num_train, ">= 1")
        check_range("num_val", num_val, ">= 1")
        check_range("image_size", image_size, ">= 8")
        check_range("max_objects", max_objects, ">= 1")
        check_range("predict_images", predict_images, ">= 0")
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 0.95:
            raise ConfigError(f"scale must be (smallest, largest) shape size as fractions of the image side, "
                              f"with 0 < smallest <= largest <= 0.95; got {list(scale)}.")
        self.num_train, self.num_val, self.image_size = num_train, num_val, image_size
        self.max_objects, self.scale, self.seed = max_objects, tuple(scale), seed
        self.predict_images = predict_images

    def _split(self, split: str, n: int) -> ShapeDetectionSet:
        return ShapeDetectionSet(n, split, self.seed, self.image_size, self.max_objects, self.scale)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:  # rendering is lazy: making the splits costs nothing
            self.train_set = self._split("train", self.num_train)
            self.val_set = self._split("val", self.num_val)
            self.test_set = self._split("test", self.num_val)

    def collate(self, items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return torch.stack([x for x, _ in items]), pad_boxes([y for _, y in items])

    def transform(self, batch: Any) -> Any:
        X, *rest = batch
        return (to_float_images(X), *rest) if X.dtype == torch.uint8 else batch

    def prediction_frame(self, outputs: dict[str, Any]) -> pd.DataFrame:
        """One row per detected box: the image's index in the predict set, class, confidence, corners
        in pixels."""
        rows = []
        for i, det in enumerate(outputs["detections"]):
            for cls, score, *box in det.tolist():
                corners = {k: round(v * self.image_size, 1) for k, v in zip(("x1", "y1", "x2", "y2"), box)}
                rows.append({"image_id": i, "class": self.classes[int(cls)], "score": round(score, 4),
                             **corners})
        return pd.DataFrame(rows, columns=["image_id", "class", "score", "x1", "y1", "x2", "y2"])

    def prediction_files(self, outputs: dict[str, Any], run_dir) -> list[Path]:
        """detections_<i>.png for the first `predict_images` images, 4x enlarged: the true boxes in
        white, the detections in colour with their class and confidence."""
        from torchvision.io import write_png

        data = self.predict_set if self.predict_set is not None else self.test_set
        paths = []
        zoom = 4
        for i, det in enumerate(outputs["detections"][: self.predict_images]):
            image, truth = data[i]
            image = image.repeat_interleave(zoom, 1).repeat_interleave(zoom, 2)
            scale = self.image_size * zoom
            image = draw_boxes(image, truth[:, 1:] * scale, colors="white", width=1)
            if len(det):
                labels = [f"{self.classes[int(c)]} {s:.2f}" for c, s in det[:, :2].tolist()]
                colors = [_COLORS[int(c) % len(_COLORS)] for c in det[:, 0].tolist()]
                image = draw_boxes(image, det[:, 2:] * scale, labels, colors)
            path = Path(run_dir) / f"detections_{i}.png"
            write_png(image, str(path))
            paths.append(path)
        return paths


_COLORS = ["red", "lime", "blue", "yellow", "magenta", "cyan", "orange"]
