"""7.3 NASA airfoil self-noise: 1503 wind-tunnel measurements, 5 features and the sound level.

As the book's `get_data_ch7`: every column is standardised (population std, over all 1503 rows),
then the first 1500 rows are kept. Chapter 7 trains on them in minibatches and watches the loss on
all of them, so `val` (and `test`) evaluate the same 1500 rows.
"""

import warnings

import numpy as np
import torch

from d2l_lightning.core.datamodule import D2LDataModule, TensorBatchDataset
from d2l_lightning.datamodules.download import DataFile, fetch
from d2l_lightning.errors import DataError, check_range

FILE = DataFile(
    "airfoil_self_noise.dat",
    "sha256:10ee06e6cfb27dae6b44213d421d217012fb1f9b697592e73a4e4016b52d425f",
    urls=("https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/"
          "airfoil_self_noise.dat",))


class Airfoil(D2LDataModule):
    """Args:
        batch_size: book 10 (1 for SGD, 1500 for gradient descent).
        num_examples: rows kept after standardising (book 1500).
        checksum, num_workers, data_dir: see `D2LDataModule` / `FashionMNIST`.
    """

    def __init__(self, batch_size: int = 10, num_examples: int = 1500, checksum: bool = True,
                 num_workers: int = 0, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        check_range("num_examples", num_examples, ">= 1", "Rows kept after standardising (book 1500).")
        self.num_examples, self.checksum = num_examples, checksum

    def data_files(self) -> list[DataFile]:
        """What `python -m d2l_lightning data` fetches and verifies for offline use."""
        return [FILE]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        path = fetch("Airfoil", [FILE], self.data_dir, verify=self.checksum)[FILE.path]
        try:
            with warnings.catch_warnings():  # an empty file: our error below says it, once
                warnings.simplefilter("ignore", UserWarning)
                data = np.genfromtxt(path, delimiter="\t")
        except (OSError, ValueError) as e:
            raise DataError(f"Airfoil: cannot read {path} ({e}).") from None
        if data.ndim != 2 or data.shape[1] != 6 or np.isnan(data).any():
            raise DataError(f"Airfoil: {path} should hold rows of 6 tab-separated numbers; "
                            f"got shape {data.shape}. The file is corrupt or not the airfoil data.")
        data = (data - data.mean(axis=0)) / data.std(axis=0)
        data = torch.tensor(data[: self.num_examples], dtype=torch.float32)
        X, y = data[:, :-1], data[:, -1:].contiguous()
        self.train_set = TensorBatchDataset(X, y)
        self.val_set = self.test_set = self.train_set

    # The loss on all rows is one matrix product: evaluate it as a single batch (the book's
    # `eval_loss`), which matters because chapter 7 evaluates every 100 examples.
    def val_dataloader(self):
        return self.loader(self.val_set, shuffle=False, batch_size=len(self.val_set))

    def test_dataloader(self):
        return self.loader(self.test_set, shuffle=False, batch_size=len(self.test_set))
