"""3.16 Kaggle house prices (Ames): 1460 training houses with prices, 1459 test houses without.

The book's preprocessing, made robust to current pandas: numeric columns are chosen by dtype
(`dtypes != 'object'` no longer finds them with pandas' string dtype), standardised, their missing
values set to 0 (the new mean), and the other columns one-hot encoded with a missing-value
indicator. Train and test features are processed together, as in the book.
"""

import numpy as np
import pandas as pd
import torch

from d2l_lightning.core.datamodule import D2LDataModule, TensorBatchDataset
from d2l_lightning.datamodules.download import DataFile, fetch
from d2l_lightning.errors import DataError, check_range

_BOOK_REPO = "https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/kaggle_house/"
FILES = [
    DataFile("kaggle_house/train.csv",
             "sha256:1e18addf81e5e4d347cc17ee6075bbe4a42b7fa26b9e5b063e8f692a5f929d41",
             urls=(_BOOK_REPO + "train.csv",)),
    DataFile("kaggle_house/test.csv",
             "sha256:8fdd3d829d4d986b58f845c9553b225e67dd8383624d90fb6ca1d4bed5798c1e",
             urls=(_BOOK_REPO + "test.csv",)),
]


def preprocess(train: pd.DataFrame, test: pd.DataFrame,
               log_skewed: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feature tables (train, test) as float32, from the raw CSVs (first column Id, train's last
    column SalePrice). `log_skewed` (not in the book) first takes log(1 + x) of the non-negative
    numeric columns whose skewness is above 0.75 (areas, counts), so a few huge houses do not
    dominate a linear fit."""
    features = pd.concat((train.iloc[:, 1:-1], test.iloc[:, 1:]))
    numeric = features.select_dtypes("number").columns
    if log_skewed:
        skewed = [c for c in numeric if features[c].min() >= 0 and features[c].skew() > 0.75]
        features[skewed] = np.log1p(features[skewed])
    features[numeric] = (features[numeric] - features[numeric].mean()) / features[numeric].std()
    features[numeric] = features[numeric].fillna(0)
    features = pd.get_dummies(features, dummy_na=True).astype("float32")
    return features.iloc[: len(train)], features.iloc[len(train):]


def k_fold_indices(n: int, k: int, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The book's `get_k_fold_data`: fold i of k consecutive slices of n // k rows is the
    validation part, the other slices the training part (the last n % k rows are dropped)."""
    fold_size = n // k
    idx = torch.arange(fold_size * k)
    val = idx[i * fold_size: (i + 1) * fold_size]
    train = torch.cat([idx[: i * fold_size], idx[(i + 1) * fold_size:]])
    return train, val


class KaggleHouse(D2LDataModule):
    """Args:
        batch_size: book 64.
        num_folds, fold: with `fold` in [0, num_folds) train on the other folds and validate on
            this one (`scripts/kfold.py` runs them all); `fold: null` trains on every house (the
            book's `train_and_pred`), with no validation.
        log_skewed: log-transform skewed numeric features first (see `preprocess`; not the book's).
        checksum, num_workers, data_dir: see `FashionMNIST` / `D2LDataModule`.
    """

    prediction_filename = "submission.csv"

    def __init__(self, batch_size: int = 64, num_folds: int = 5, fold: int | None = None,
                 log_skewed: bool = False, checksum: bool = True, num_workers: int = 0,
                 data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        check_range("num_folds", num_folds, ">= 2")
        check_range("fold", fold, f"[0, {num_folds})", "null trains on every house, with no validation.",
                    none_ok=True)
        self.num_folds, self.fold, self.checksum = num_folds, fold, checksum
        self.log_skewed = log_skewed
        self.num_features: int | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        paths = fetch("KaggleHouse", FILES, self.data_dir, verify=self.checksum)
        try:
            train = pd.read_csv(paths["kaggle_house/train.csv"])
            test = pd.read_csv(paths["kaggle_house/test.csv"])
        except (OSError, pd.errors.ParserError) as e:
            raise DataError(f"KaggleHouse: cannot read the CSV files ({e}).") from None
        if "SalePrice" not in train.columns or "Id" not in test.columns:
            raise DataError("KaggleHouse: train.csv needs an Id first and SalePrice last column, "
                            "test.csv an Id column; these files are not the competition's.")
        X_train, X_test = preprocess(train, test, self.log_skewed)
        X = torch.tensor(X_train.to_numpy())
        y = torch.tensor(train["SalePrice"].to_numpy(), dtype=torch.float32).reshape(-1, 1)
        self.num_features = X.shape[1]
        self.test_ids = test["Id"].to_numpy()
        self.predict_set = TensorBatchDataset(torch.tensor(X_test.to_numpy()))
        if self.fold is None:
            self.train_set = TensorBatchDataset(X, y)
            self.test_set = self.train_set
        else:
            tr, va = k_fold_indices(len(X), self.num_folds, self.fold)
            self.train_set = TensorBatchDataset(X[tr], y[tr])
            self.val_set = TensorBatchDataset(X[va], y[va])
            self.test_set = self.val_set

    def prediction_frame(self, outputs) -> pd.DataFrame:
        price = outputs["prediction"].reshape(-1).numpy()
        return pd.DataFrame({"Id": self.test_ids, "SalePrice": price})
