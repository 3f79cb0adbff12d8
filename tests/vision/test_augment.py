"""Batch augmentation (book 9.1): every image its own random flip / crop / colour jitter, equal to
torchvision's per-image functional transforms with the same parameters; training batches only."""

from types import SimpleNamespace

import pytest
import torch
from helpers.fakedata import make_fashion_mnist
from torchvision.transforms.v2 import functional as TF

from d2l_lightning.datamodules import FashionMNIST
from d2l_lightning.errors import ConfigError
from d2l_lightning.vision.transforms import ColorJitter, RandomFlip, RandomResizedCrop, _uniform


def test_flips_are_drawn_per_image():
    torch.manual_seed(0)
    X = torch.rand(64, 1, 4, 5)
    for flip, dim in ((RandomFlip(horizontal=0.5), -1), (RandomFlip(horizontal=0, vertical=0.5), -2)):
        Y = flip(X)
        flipped = torch.tensor([torch.equal(y, x.flip(dim)) for x, y in zip(X, Y)])
        kept = torch.tensor([torch.equal(y, x) for x, y in zip(X, Y)])
        assert (flipped | kept).all() and 10 < flipped.sum() < 54
    assert torch.equal(RandomFlip(horizontal=1.0)(X), X.flip(-1))


def test_random_resized_crop_boxes_per_image_within_scale_and_ratio():
    torch.manual_seed(0)
    crop = RandomResizedCrop(16, scale=(0.1, 1.0), ratio=(0.5, 2.0))  # the book's, smaller
    X = torch.rand(256, 3, 40, 30)
    x0, y0, w, h = crop.boxes(256, 40, 30, X).unbind(1)
    assert ((w * h / (40 * 30) >= 0.1 - 1e-5) & (w * h / (40 * 30) <= 1 + 1e-5)).all()
    assert ((w / h >= 0.5 - 1e-5) & (w / h <= 2 + 1e-5)).all()
    assert (x0 >= 0).all() and (x0 + w <= 30 + 1e-4).all() and (y0 + h <= 40 + 1e-4).all()
    assert w.unique().numel() > 200  # each image its own box
    assert crop(X).shape == (256, 3, 16, 16)
    # the whole image at its own size is the identity; an integer box equals torchvision's crop
    same = RandomResizedCrop(8, scale=(1, 1), ratio=(1, 1))
    Z = torch.rand(5, 3, 8, 8)
    assert torch.allclose(same(Z), Z, atol=1e-6)
    half = RandomResizedCrop(4, scale=(0.25, 0.25), ratio=(1, 1))
    half.boxes = lambda n, H, W, like: torch.tensor([[4.0, 0.0, 4.0, 4.0]]).repeat(n, 1)
    assert torch.allclose(half(Z), TF.crop(Z, 0, 4, 4, 4), atol=1e-6)
    with pytest.raises(ConfigError, match="scale"):
        RandomResizedCrop(8, scale=(0.5, 0.1))


@pytest.mark.parametrize("kind, tv", [("brightness", TF.adjust_brightness), ("contrast", TF.adjust_contrast),
                                      ("saturation", TF.adjust_saturation), ("hue", TF.adjust_hue)])
def test_color_jitter_equals_torchvision_per_image_with_its_own_factor(kind, tv):
    X = torch.rand(6, 3, 8, 8)
    torch.manual_seed(1)
    low, high = (-0.5, 0.5) if kind == "hue" else (0.5, 1.5)
    factors = _uniform(6, low, high, X)  # what the jitter draws first with this seed
    torch.manual_seed(1)
    Y = ColorJitter(**{kind: 0.5})(X)
    expected = torch.stack([tv(x, float(f)) for x, f in zip(X, factors)])
    assert torch.allclose(Y, expected, atol=1e-4)
    assert factors.unique().numel() == 6


def test_augmentation_touches_training_batches_only(tmp_path):
    dm = FashionMNIST(batch_size=16, data_dir=str(make_fashion_mnist(tmp_path)), checksum=False,
                      augmentations=[RandomFlip(horizontal=0.5), RandomResizedCrop(28, scale=(0.5, 1))])
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    plain = dm.transform(batch)
    dm.trainer = SimpleNamespace(training=False)  # validation, test, predict
    assert torch.equal(dm.on_after_batch_transfer(batch, 0)[0], plain[0])
    dm.trainer = SimpleNamespace(training=True)
    X = dm.on_after_batch_transfer(batch, 0)[0]
    assert X.shape == plain[0].shape and not torch.equal(X, plain[0])
    changed = [(x - p).abs().max() > 1e-3 for x, p in zip(X, plain[0])]
    assert sum(changed) >= 12  # nearly every image its own crop
