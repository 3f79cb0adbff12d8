"""Batch transforms on image tensors, run on the device after transfer (a whole batch per call,
never one Python call per image)."""

import torch
import torch.nn.functional as F
from torch import Tensor


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
