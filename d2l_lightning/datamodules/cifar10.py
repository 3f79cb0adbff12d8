"""9.1 CIFAR-10: 50,000 training and 10,000 test colour images, 32x32, 10 classes.

Read straight from `cifar-10-python.tar.gz` (the python-pickle batches `data_batch_1..5` and
`test_batch`; nothing is extracted) into uint8 tensors held in memory, like Fashion-MNIST: batches
are fetched with one indexing operation and turned into floats in [0, 1] on the device (the book's
`ToTensor()`), and training batches get the configured `augmentations` there, per image (the
book's `RandomHorizontalFlip()`). `val` is the test split, as the book evaluates each epoch.
"""

import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from d2l_lightning.core.datamodule import D2LDataModule, TensorBatchDataset
from d2l_lightning.datamodules.download import DataFile, fetch
from d2l_lightning.errors import DataError
from d2l_lightning.vision.transforms import BatchTransform, apply_augmentations, to_float_images

ARCHIVE = DataFile("cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a",  # published MD5
                   urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",))
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def read_cifar10(path: str | Path) -> dict[str, tuple[Tensor, Tensor]]:
    """{"train": (images, labels), "test": (images, labels)} from the python-pickle tarball;
    images uint8 (n, 3, 32, 32), labels int64."""
    batches: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in (*TRAIN_BATCHES, "test_batch"):
                    batches[name] = pickle.load(tar.extractfile(member), encoding="bytes")
    except (OSError, EOFError, tarfile.TarError, pickle.UnpicklingError) as e:
        raise DataError(f"{path} cannot be read ({e}); it is corrupt or truncated. Delete it and rerun to "
                        "download it again, or replace it with a good copy.") from None
    missing = [n for n in (*TRAIN_BATCHES, "test_batch") if n not in batches]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}: it is not the CIFAR-10 python archive "
                        "(cifar-10-batches-py/data_batch_1..5, test_batch).")

    def stack(names: list[str]) -> tuple[Tensor, Tensor]:
        data = np.concatenate([np.asarray(batches[n][b"data"], dtype=np.uint8) for n in names])
        labels = np.concatenate([np.asarray(batches[n][b"labels"], dtype=np.int64) for n in names])
        if data.shape[1:] != (3 * 32 * 32,) or len(data) != len(labels):
            raise DataError(f"{path}: batches of shape {data.shape} with {len(labels)} labels, expected "
                            "rows of 3,072 bytes (3x32x32) and one label per row; the file is corrupt.")
        return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)

    return {"train": stack(TRAIN_BATCHES), "test": stack(["test_batch"])}


class CIFAR10(D2LDataModule):
    """CIFAR-10 as in-memory tensors.

    Args:
        batch_size: minibatch size (book 9.1: 256).
        augmentations: random batch transforms of training batches, e.g.
            `[{class_path: d2l_lightning.vision.transforms.RandomFlip}]` (book 9.1: flips only);
            null = none.
        checksum: verify the archive's MD5 (turn off only for your own test fixtures).
        num_workers, data_dir: see `D2LDataModule`.
    """

    labels = LABELS

    def __init__(self, batch_size: int = 256, augmentations: list[BatchTransform] | None = None,
                 checksum: bool = True, num_workers: int = 0, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        self.augmentations = augmentations
        self.checksum = checksum
        self._loaded = False

    def prepare_data(self) -> None:
        if self.checksum:
            fetch("CIFAR-10", [ARCHIVE], self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self._loaded:
            return
        path = fetch("CIFAR-10", [ARCHIVE], self.data_dir, verbose=False, verify=self.checksum)[ARCHIVE.path]
        data = read_cifar10(path)
        self.train_set = TensorBatchDataset(*data["train"])
        self.test_set = self.val_set = TensorBatchDataset(*data["test"])
        self._loaded = True

    def transform(self, batch):
        X, *rest = batch
        if X.dtype == torch.uint8:
            X = to_float_images(X)
        return (X, *rest)

    def augment(self, batch):
        X, *rest = batch
        return (apply_augmentations(X, self.augmentations), *rest)

    def prediction_frame(self, outputs):
        df = super().prediction_frame(outputs)
        df.insert(1, "pred_label", [LABELS[i] for i in df["pred"]])
        if "target" in df:
            df["target_label"] = [LABELS[i] for i in df["target"]]
        return df
