"""3.5 Fashion-MNIST: 60,000 training and 10,000 test images, 28x28 grey, 10 classes.

The four idx files are read once into uint8 tensors held in memory; batches are fetched with one
indexing operation and converted (to float in [0, 1], optionally resized) per batch on the device,
never per image through PIL. By default `val` is the official test split, as the book evaluates
("test acc" after each epoch); `val_split` holds validation images out of the training set instead.
"""

import gzip
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from d2l_lightning.core.datamodule import D2LDataModule, TensorBatchDataset, data_generator, held_out_count
from d2l_lightning.datamodules.download import DataFile, fetch
from d2l_lightning.errors import ConfigError, DataError, check_range
from d2l_lightning.vision import to_float_images
from d2l_lightning.vision.transforms import BatchTransform, apply_augmentations

# the S3 website endpoint serves plain HTTP only; the MD5 check guards the content
_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_DEBIAN = "/usr/share/datasets/fashion-mnist/"
# Checksums: the MD5s published by Zalando (and used by torchvision), and the SHA-256 of the
# decompressed files, which also accepts Debian's copies (same content, rewritten gzip headers).
FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                     "sha256:c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "md5:25c81989df183df01b3e8a0aad5dffbe",
                     "sha256:bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "md5:bef4ecab320f06d8554ea6380940ec79",
                    "sha256:5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "md5:bb300cfdad3c16e7a12a480ee83cd310",
                    "sha256:0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
LABELS = ["t-shirt", "trouser", "pullover", "dress", "coat",
          "sandal", "shirt", "sneaker", "bag", "ankle boot"]


def read_idx(path: Path) -> Tensor:
    """Reads an (optionally gzipped) idx file of unsigned bytes into a uint8 tensor."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} cannot be read ({e}); it is corrupt or truncated. Delete it and rerun "
                        "to download it again, or replace it with a good copy.") from None
    magic = int.from_bytes(data[:4], "big")
    ndim, dtype = magic & 0xFF, (magic >> 8) & 0xFF
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = 1
    for d in dims:
        expected *= d
    if dtype != 0x08 or ndim == 0 or len(data) - header != expected:
        raise DataError(f"{path} is not a valid idx file of bytes (magic {magic:#x}, dims {dims}, "
                        f"{len(data) - header} data bytes); it is corrupt or truncated. Delete it and "
                        "rerun to download it again, or replace it with a good copy.")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(dims)


class FashionMNIST(D2LDataModule):
    """Fashion-MNIST as in-memory tensors.

    Args:
        batch_size: minibatch size (book: 256).
        resize: resize images to `resize` x `resize` (chapter 5: 224 for AlexNet, 96 for ResNet).
        val_split: 0 = validate on the official test split (the book's "test acc"); a fraction
            in (0, 1) or a count holds that many training images out for validation instead.
        train_subset: train on only the first N (shuffled, fixed) training images; quick CPU runs.
        classes: keep only these classes (e.g. [5, 6, 7, 8, 9]) in every split, relabelled 0, 1, ...
            in the order given (9.2's transfer experiment); `train_subset` counts the kept images.
        augmentations: random batch transforms of training batches (9.1), e.g.
            `[{class_path: d2l_lightning.vision.transforms.RandomFlip}]`; null = none.
        checksum: verify the files' MD5s (turn off only for your own test fixtures).
        num_workers, data_dir: see `D2LDataModule`.
    """

    labels = LABELS

    def __init__(self, batch_size: int = 256, resize: int | None = None, val_split: float = 0,
                 train_subset: int | None = None, checksum: bool = True, num_workers: int = 0,
                 data_dir: str | None = None, classes: list[int] | None = None,
                 augmentations: list[BatchTransform] | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        check_range("resize", resize, ">= 1", "It is the image size; use null for 28x28.", none_ok=True)
        check_range("val_split", val_split, ">= 0",
                    "A fraction in (0, 1) or a count of training images to hold out; 0 validates on the "
                    "test split.")
        check_range("train_subset", train_subset, ">= 1", "A count of training images; null trains on all.",
                    none_ok=True)
        self.resize = resize
        self.val_split = val_split
        self.train_subset = train_subset
        self.checksum = checksum
        if classes is not None and (len(set(classes)) < 2 or not set(classes) <= set(range(len(LABELS)))):
            raise ConfigError(f"classes must be at least two different class numbers in 0..9, got {classes}.")
        self.classes = classes
        self.labels = [LABELS[c] for c in classes] if classes else LABELS
        self.augmentations = augmentations
        self._loaded = False

    def files(self) -> list[DataFile]:
        return [DataFile(f"FashionMNIST/raw/{name}", checksum, urls=(_MIRROR + name,),
                         system_paths=(_DEBIAN + name,), content_checksum=content)
                for name, checksum, content in FILES.values()]

    data_files = files  # what `python -m d2l_lightning data` fetches and verifies for offline use

    def prepare_data(self) -> None:
        # Runs on one process per node before setup(): downloads here, never in parallel.
        if self.checksum:
            fetch("FashionMNIST", self.files(), self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self._loaded:
            return
        paths = fetch("FashionMNIST", self.files(), self.data_dir, verbose=False, verify=self.checksum)
        t = {k: read_idx(paths[f"FashionMNIST/raw/{name}"]) for k, (name, *_) in FILES.items()}
        X_train, y_train = t["train_images"], t["train_labels"].long()
        X_test, y_test = t["test_images"], t["test_labels"].long()
        if len(X_train) != len(y_train) or len(X_test) != len(y_test):
            raise DataError("FashionMNIST: image and label files disagree in length; a file is corrupt.")
        if self.classes:
            X_train, y_train = _keep_classes(X_train, y_train, self.classes)
            X_test, y_test = _keep_classes(X_test, y_test, self.classes)

        n_val = held_out_count(self.val_split, len(X_train), "training images")
        if n_val or self.train_subset:
            # A fixed permutation, independent of the run's seed: every run splits the same way.
            perm = torch.randperm(len(X_train), generator=data_generator(0))
            X_train, y_train = X_train[perm], y_train[perm]
        self.test_set = TensorBatchDataset(X_test, y_test)
        if n_val:
            self.val_set = TensorBatchDataset(X_train[-n_val:], y_train[-n_val:])
            X_train, y_train = X_train[:-n_val], y_train[:-n_val]
        else:
            self.val_set = self.test_set
        if self.train_subset:
            X_train, y_train = X_train[: self.train_subset], y_train[: self.train_subset]
        self.train_set = TensorBatchDataset(X_train, y_train)
        self._loaded = True

    def transform(self, batch):
        X, *rest = batch
        if X.dtype == torch.uint8:  # whole batch at once, on the device it will be used on
            X = to_float_images(X, self.resize)
        return (X, *rest)

    def augment(self, batch):
        X, *rest = batch
        return (apply_augmentations(X, self.augmentations), *rest)

    def prediction_frame(self, outputs) -> pd.DataFrame:
        df = super().prediction_frame(outputs)
        df.insert(1, "pred_label", [self.labels[i] for i in df["pred"]])
        if "target" in df:
            df["target_label"] = [self.labels[i] for i in df["target"]]
        return df


def _keep_classes(X: Tensor, y: Tensor, classes: list[int]) -> tuple[Tensor, Tensor]:
    """The images of `classes` only, labelled by their position in `classes`."""
    new_label = torch.full((len(LABELS),), -1, dtype=torch.long)
    new_label[torch.tensor(classes)] = torch.arange(len(classes))
    keep = new_label[y] >= 0
    return X[keep], new_label[y[keep]]
