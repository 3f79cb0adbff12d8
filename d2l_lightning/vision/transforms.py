"""Image transforms.

Batch transforms run on the device after transfer, a whole batch per call and never one Python
call per image. The training-time augmentations (book 9.1: flips, `RandomResizedCrop`,
`ColorJitter`) draw their random parameters per image, as torchvision's per-image transforms do
(torchvision v2 applied to a batch tensor draws one set for the whole batch), from the global
torch RNG on the batch's device (seeded by the run and saved in checkpoints). Data modules take
them as `augmentations: [...]` in the config and apply them to training batches only.

Per-image transforms for data of mixed image sizes (book 9.2's JPEGs) are torchvision's, run in
the DataLoader workers: `imagenet_train_transform`, `imagenet_test_transform`.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2l_lightning.errors import ConfigError, check_range

#: ImageNet channel means and standard deviations that torchvision's pretrained models expect
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_float_images(X: Tensor, resize: int | None = None) -> Tensor:
    """uint8 images (n, h, w) or (n, c, h, w) -> float in [0, 1] of shape (n, c, h, w), resized
    (bilinear) to `resize` x `resize` when given: the book's `ToTensor()` and `Resize` for a batch."""
    if X.dim() == 3:
        X = X.unsqueeze(1)
    X = X.float().div_(255)
    if resize:
        X = F.interpolate(X, size=(resize, resize), mode="bilinear", align_corners=False)
    return X


def random_horizontal_flip(X: Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Flips each image of a batch (n, c, h, w) left-right with probability `p`, each its own draw
    (as torchvision's per-image `RandomHorizontalFlip`)."""
    flip = torch.rand(X.shape[0], generator=generator, device="cpu").to(X.device) < p
    return torch.where(flip[:, None, None, None], X.flip(-1), X)


def _uniform(n: int, low: float, high: float, like: Tensor) -> Tensor:
    return torch.rand(n, device=like.device, dtype=like.dtype) * (high - low) + low


class BatchTransform(nn.Module):
    """Base of the batch augmentations: `forward(X)` maps float images (n, c, h, w) to augmented
    images, every image with its own random parameters."""


class RandomFlip(BatchTransform):
    """Each image flipped left-right with probability `horizontal` and, independently, upside down
    with probability `vertical` (book 9.1 `RandomHorizontalFlip`, `RandomVerticalFlip`)."""

    def __init__(self, horizontal: float = 0.5, vertical: float = 0.0):
        super().__init__()
        check_range("horizontal", horizontal, "[0, 1]")
        check_range("vertical", vertical, "[0, 1]")
        self.horizontal, self.vertical = horizontal, vertical

    def forward(self, X: Tensor) -> Tensor:
        for p, dim in ((self.horizontal, -1), (self.vertical, -2)):
            if p > 0:
                flip = torch.rand(X.shape[0], device=X.device) < p
                X = torch.where(flip[:, None, None, None], X.flip(dim), X)
        return X


class RandomResizedCrop(BatchTransform):
    """Each image cropped to a random box and resized (bilinear) to `size` x `size` (book 9.1
    `RandomResizedCrop(200, scale=(0.1, 1), ratio=(0.5, 2))`): the box covers a fraction of the
    image's area drawn uniformly from `scale`, with width/height drawn log-uniformly from `ratio`.
    As torchvision, up to 10 draws per image until the box fits, else the centred box of the
    largest allowed ratio. One `grid_sample` crops and resizes the whole batch."""

    attempts = 10

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)):
        super().__init__()
        check_range("size", size, ">= 1")
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ConfigError(f"RandomResizedCrop: scale {tuple(scale)} must satisfy 0 < low <= high <= 1 and "
                              f"ratio {tuple(ratio)} 0 < low <= high (e.g. scale [0.1, 1], ratio [0.5, 2]).")
        self.size, self.scale, self.ratio = size, tuple(scale), tuple(ratio)

    def boxes(self, n: int, height: int, width: int, like: Tensor) -> Tensor:
        """(n, 4) crop boxes (x0, y0, w, h) in pixels, one per image."""
        k = self.attempts
        area = height * width * _uniform(n * k, *self.scale, like).reshape(n, k)
        log_ratio = _uniform(n * k, math.log(self.ratio[0]), math.log(self.ratio[1]), like).reshape(n, k)
        aspect = log_ratio.exp()
        w, h = (area * aspect).sqrt(), (area / aspect).sqrt()
        fits = (w <= width) & (h <= height)
        first = fits.float().argmax(dim=1, keepdim=True)  # first draw that fits, per image
        w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
        # none fits: the whole image, cut to the nearest allowed ratio (torchvision's fallback)
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = width, width / self.ratio[0]
        elif in_ratio > self.ratio[1]:
            fw, fh = height * self.ratio[1], height
        else:
            fw, fh = width, height
        ok = fits.any(dim=1)
        w, h = torch.where(ok, w, torch.full_like(w, fw)), torch.where(ok, h, torch.full_like(h, fh))
        x0 = torch.rand(n, device=like.device, dtype=like.dtype) * (width - w)
        y0 = torch.rand(n, device=like.device, dtype=like.dtype) * (height - h)
        return torch.stack((x0, y0, w, h), dim=1)

    def forward(self, X: Tensor) -> Tensor:
        n, c, height, width = X.shape
        x0, y0, w, h = self.boxes(n, height, width, X).unbind(1)
        # affine map from output coordinates in [-1, 1] to the box's coordinates in the input
        theta = torch.zeros(n, 2, 3, device=X.device, dtype=X.dtype)
        theta[:, 0, 0], theta[:, 0, 2] = w / width, (2 * x0 + w) / width - 1
        theta[:, 1, 1], theta[:, 1, 2] = h / height, (2 * y0 + h) / height - 1
        grid = F.affine_grid(theta, [n, c, self.size, self.size], align_corners=False)
        return F.grid_sample(X, grid, mode="bilinear", padding_mode="border", align_corners=False)


def rgb_to_grayscale(X: Tensor) -> Tensor:
    """(n, 3, h, w) -> (n, 1, h, w) with the ITU-R 601 weights torchvision uses."""
    r, g, b = X.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _rgb_to_hsv(X: Tensor) -> Tensor:
    r, g, b = X.unbind(1)
    maxc, minc = X.max(dim=1).values, X.min(dim=1).values
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), 0.0)
    h = torch.where(maxc == r, (g - b) / safe, torch.where(maxc == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = torch.where(delta > 0, (h / 6) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, maxc), dim=1)


def _hsv_to_rgb(X: Tensor) -> Tensor:
    h, s, v = X.unbind(1)
    i = torch.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.long() % 6
    r = torch.stack((v, q, p, p, t, v), 1).gather(1, i.unsqueeze(1))
    g = torch.stack((t, v, v, q, p, p), 1).gather(1, i.unsqueeze(1))
    b = torch.stack((p, p, t, v, v, q), 1).gather(1, i.unsqueeze(1))
    return torch.cat((r, g, b), dim=1)


class ColorJitter(BatchTransform):
    """Each image's brightness, contrast and saturation scaled by its own factor drawn from
    [1 - x, 1 + x] and its hue shifted by a draw from [-hue, hue] (book 9.1 `ColorJitter(brightness=
    0.5, contrast=0.5, saturation=0.5, hue=0.5)`), for images in [0, 1]. torchvision applies the
    four in a random order per image; here always in that order. Saturation and hue need 3 channels
    and are skipped for grey images."""

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0,
                 hue: float = 0.0):
        super().__init__()
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            check_range(name, value, ">= 0")
        check_range("hue", hue, "[0, 0.5]")
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def _factor(self, x: float, X: Tensor) -> Tensor:
        return _uniform(X.shape[0], max(0.0, 1 - x), 1 + x, X)[:, None, None, None]

    def forward(self, X: Tensor) -> Tensor:
        rgb = X.shape[1] == 3
        if self.brightness:
            X = (X * self._factor(self.brightness, X)).clamp(0, 1)
        if self.contrast:
            grey = rgb_to_grayscale(X) if rgb else X
            mean = grey.mean(dim=(1, 2, 3), keepdim=True)
            X = ((X - mean) * self._factor(self.contrast, X) + mean).clamp(0, 1)
        if self.saturation and rgb:
            grey = rgb_to_grayscale(X)
            X = ((X - grey) * self._factor(self.saturation, X) + grey).clamp(0, 1)
        if self.hue and rgb:
            hsv = _rgb_to_hsv(X)
            shift = _uniform(X.shape[0], -self.hue, self.hue, X)[:, None, None]
            hsv = torch.stack(((hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]), dim=1)
            X = _hsv_to_rgb(hsv)
        return X


def apply_augmentations(X: Tensor, augmentations: list[BatchTransform] | None) -> Tensor:
    """The configured augmentations, in order (a data module's `augment` hook)."""
    for t in augmentations or ():
        X = t(X)
    return X


# --- per-image transforms in DataLoader workers (book 9.2) --------------------------------------
def imagenet_train_transform(size: int = 224):
    """Book 9.2 training images: `RandomResizedCrop(224)`, `RandomHorizontalFlip()`, to a float
    tensor, ImageNet normalisation."""
    from torchvision.transforms import v2

    return v2.Compose([v2.ToImage(), v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip(),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def imagenet_test_transform(size: int = 224, resize: int = 256):
    """Book 9.2 test images: `Resize(256)`, `CenterCrop(224)`, to a float tensor, ImageNet
    normalisation."""
    from torchvision.transforms import v2

    return v2.Compose([v2.ToImage(), v2.Resize(resize, antialias=True), v2.CenterCrop(size),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
