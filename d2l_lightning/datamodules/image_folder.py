"""9.2 An image folder: `<data dir>/<folder>/train/<class>/*.jpg|png` and `.../test/<class>/...`,
classes numbered in sorted order (the hotdog set: 0 = hotdog, 1 = not-hotdog; 2,000 training and
800 test images of various sizes).

The hotdog set is downloaded as `hotdog.zip` (SHA-1 checked) and unpacked next to it when its
folder is missing. Images are decoded and transformed per image in the DataLoader workers with
torchvision (book 9.2: `RandomResizedCrop(224)` + flip + ImageNet normalisation for training,
`Resize(256)` + `CenterCrop(224)` + normalisation for test): they differ in size, so they cannot be
batched before cropping. `val` is the test split, as the book evaluates each epoch.
"""

import zipfile
from pathlib import Path

from d2l_lightning.core.datamodule import D2LDataModule
from d2l_lightning.datamodules.download import DataFile, data_root, fetch
from d2l_lightning.errors import ConfigError, DataError, check_range
from d2l_lightning.vision.transforms import imagenet_test_transform, imagenet_train_transform

# d2l's data hub entry for 9.2 (the SHA-1 its `download` checks)
ARCHIVES = {"hotdog": DataFile("hotdog.zip", "sha1:fba480ffa8aa7e0febbb511d181409f899b9baa5",
                               urls=("http://d2l-data.s3-accelerate.amazonaws.com/hotdog.zip",))}


class ImageFolder(D2LDataModule):
    """Classification from a folder of class sub-folders (torchvision's `ImageFolder` per split).

    Args:
        folder: the data set's folder under the data dir (`hotdog` is downloaded when missing).
        batch_size: minibatch size (book 9.2: 128).
        crop_size: side of the training crops and test centre crops (book: 224).
        resize: test images' shorter side before the centre crop (book: 256).
        checksum: verify the downloaded archive (turn off only for your own copies and fixtures).
        num_workers: DataLoader worker processes that decode and transform the images.
        data_dir: see `D2LDataModule`.
    """

    def __init__(self, folder: str = "hotdog", batch_size: int = 128, crop_size: int = 224, resize: int = 256,
                 checksum: bool = True, num_workers: int = 4, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        check_range("crop_size", crop_size, ">= 1")
        check_range("resize", resize, ">= 1")
        if resize < crop_size:
            raise ConfigError(f"resize ({resize}) must be at least crop_size ({crop_size}): test images are "
                              "resized, then centre-cropped (book: 256, then 224).")
        self.folder, self.crop_size, self.resize, self.checksum = folder, crop_size, resize, checksum
        self.labels: list[str] = []

    def root(self) -> Path:
        """The data set's folder; unpacks its archive first when the folder is missing."""
        base, origin = data_root(self.data_dir)
        root = base / self.folder
        if (root / "train").is_dir() and (root / "test").is_dir():
            return root
        archive = ARCHIVES.get(self.folder)
        if archive is None:
            raise DataError(f"ImageFolder: {root} (data folder from {origin}) has no train/ and test/ "
                            "folders. Lay the images out as <folder>/train/<class>/*.jpg and "
                            "<folder>/test/<class>/*.jpg, or set data.init_args.folder / data_dir.")
        zip_path = fetch(self.folder, [archive], self.data_dir, verify=self.checksum)[archive.path]
        try:
            with zipfile.ZipFile(zip_path) as z:
                z.extractall(base)
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError(f"{zip_path} cannot be unpacked ({e}); it is corrupt or truncated. Delete it and "
                            "rerun to download it again.") from None
        if not (root / "train").is_dir():
            raise DataError(f"{zip_path} did not unpack into {root}/train and {root}/test; it is not the "
                            f"{self.folder} archive.")
        return root

    def prepare_data(self) -> None:
        self.root()  # downloads and unpacks once, before setup on any process

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        from torchvision.datasets import ImageFolder as Images

        root = self.root()
        self.train_set = Images(str(root / "train"), transform=imagenet_train_transform(self.crop_size))
        self.test_set = self.val_set = Images(str(root / "test"),
                                              transform=imagenet_test_transform(self.crop_size, self.resize))
        if self.train_set.classes != self.test_set.classes:
            raise DataError(f"ImageFolder: {root}/train has classes {self.train_set.classes} but test has "
                            f"{self.test_set.classes}; both need the same class folders.")
        self.labels = self.train_set.classes

    def prediction_frame(self, outputs):
        df = super().prediction_frame(outputs)
        df.insert(1, "pred_label", [self.labels[i] for i in df["pred"]])
        if "target" in df:
            df["target_label"] = [self.labels[i] for i in df["target"]]
        return df
