"""The 9.2 image folder on generated JPEGs: per-image transforms in the loader, the archive path."""

import shutil

import pytest
import torch
from helpers.fakedata import make_image_folder

from d2l_lightning.datamodules import ImageFolder
from d2l_lightning.errors import ConfigError, DataError
from d2l_lightning.vision.transforms import IMAGENET_MEAN, IMAGENET_STD


def test_train_and_test_images_are_cropped_and_normalised(tmp_path):
    root = make_image_folder(tmp_path)
    dm = ImageFolder(batch_size=4, crop_size=32, resize=40, num_workers=0, data_dir=str(root), checksum=False)
    dm.setup()
    assert dm.labels == ["hotdog", "not-hotdog"] and len(dm.train_set) == 8 and dm.val_set is dm.test_set
    X, y = next(iter(dm.train_dataloader()))
    assert X.shape == (4, 3, 32, 32) and X.dtype == torch.float32 and y.dtype == torch.int64
    T1, _ = next(iter(dm.test_dataloader()))
    T2, _ = next(iter(dm.test_dataloader()))
    assert torch.equal(T1, T2)  # test: Resize + CenterCrop, deterministic
    # normalised with ImageNet statistics: a hot dog (red) has a high red channel after it
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    raw = T1 * std[:, None, None] + mean[:, None, None]
    assert raw.min() > -1e-4 and raw.max() < 1 + 1e-4


def test_archive_is_unpacked_and_errors_are_clear(tmp_path):
    make_image_folder(tmp_path / "src")
    shutil.make_archive(str(tmp_path / "data" / "hotdog"), "zip", tmp_path / "src", "hotdog")
    dm = ImageFolder(crop_size=32, resize=40, num_workers=0, data_dir=str(tmp_path / "data"), checksum=False)
    dm.prepare_data()
    assert (tmp_path / "data" / "hotdog" / "test" / "not-hotdog" / "0.jpg").is_file()
    with pytest.raises(DataError, match="no train/ and test/"):
        ImageFolder(folder="mine", data_dir=str(tmp_path / "data")).setup()
    with pytest.raises(DataError, match="sha1 fba480ffa8aa7e0febbb511d181409f899b9baa5"):
        ImageFolder(data_dir=str(tmp_path / "nothing")).setup()  # offline in tests
    with pytest.raises(ConfigError, match="resize"):
        ImageFolder(crop_size=224, resize=200)
