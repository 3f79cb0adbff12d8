"""CIFAR-10 from a generated archive in the real python-pickle layout."""

import pickle
import tarfile

import pytest
import torch
from helpers.fakedata import make_cifar10

from d2l_lightning.datamodules import CIFAR10
from d2l_lightning.errors import DataError


def test_reads_the_pickled_batches_into_channel_major_images(tmp_path):
    root = make_cifar10(tmp_path)
    dm = CIFAR10(batch_size=8, data_dir=str(root), checksum=False)
    dm.setup()
    X, y = dm.train_set.tensors
    assert X.shape == (60, 3, 32, 32) and X.dtype == torch.uint8 and len(dm.test_set) == 30
    assert dm.val_set is dm.test_set  # the book evaluates the test split each epoch
    with tarfile.open(root / "cifar-10-python.tar.gz") as tar:
        first = pickle.load(tar.extractfile("cifar-10-batches-py/data_batch_1"), encoding="bytes")
    assert torch.equal(X[0].reshape(-1), torch.from_numpy(first[b"data"][0])) and y[0] == first[b"labels"][0]
    assert (X[:, 0].float().mean(dim=2).argmax(dim=1) // 3 == y).all()  # the class's bright band
    Xb, yb = dm.transform(next(iter(dm.train_dataloader())))
    assert Xb.shape == (8, 3, 32, 32) and Xb.dtype == torch.float32 and Xb.max() <= 1


def test_bad_or_missing_archive_is_one_clear_error(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt or truncated"):
        CIFAR10(data_dir=str(tmp_path), checksum=False).setup()
    with pytest.raises(DataError, match="md5 c58f30108f718f92721af3b95e74349a"):
        CIFAR10(data_dir=str(tmp_path / "empty")).setup()  # offline in tests: not downloaded
