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
from d2l_lightning.errors import ConfigError, DataError, check_range

_BOOK_REPO = "https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/kaggle_house/"
FILES = [
    DataFile("kaggle_house/train.csv",
             "sha256:1e18addf81e5e4d347cc17ee6075bbe4a42b7fa26b9e5b063e8f692a5f929d41",
             urls=(_BOOK_REPO + "train.csv",)),
    DataFile("kaggle_house/test.csv",
             "sha256:8fdd3d829d4d986b58f845c9553b225e67dd8383624d90fb6ca1d4bed5798c1e",
             urls=(_BOOK_REPO + "test.csv",)),
]


def fit_preprocessing(train: pd.DataFrame, test: pd.DataFrame, log_skewed: bool = False) -> dict:
    """The statistics of the book's preprocessing, from the raw CSVs (first column Id, train's last
    column SalePrice), fitted on train and test features together as in the book: which columns
    are numeric (by dtype: `dtypes != 'object'` no longer finds them with pandas' string dtype),
    their means and standard deviations, and the one-hot columns. Plain values, so they travel in
    a checkpoint and `predict` on any file transforms each house on its own. `log_skewed` (not in
    the book) first takes log(1 + x) of the non-negative numeric columns whose skewness is above
    0.75 (areas, counts), so a few huge houses do not dominate a linear fit."""
    features = pd.concat((train.iloc[:, 1:-1], test.iloc[:, 1:]))
    numeric = list(features.select_dtypes("number").columns)
    skewed = [c for c in numeric if features[c].min() >= 0 and features[c].skew() > 0.75] if log_skewed else []
    features[skewed] = np.log1p(features[skewed])
    categorical = [c for c in features.columns if c not in numeric]
    columns = list(pd.get_dummies(features, columns=categorical, dummy_na=True).columns)
    return {"numeric": numeric, "skewed": skewed, "categorical": categorical, "columns": columns,
            "mean": [float(v) for v in features[numeric].mean()],
            "std": [float(v) for v in features[numeric].std()]}


def apply_preprocessing(features: pd.DataFrame, prep: dict) -> pd.DataFrame:
    """Feature table (float32) of raw feature rows (no Id, no SalePrice), with fitted statistics:
    standardised numeric columns with missing values set to 0 (the mean), the others one-hot with a
    missing-value indicator; a category the fit did not see is all zeros."""
    missing = [c for c in prep["numeric"] + prep["categorical"] if c not in features.columns]
    if missing:
        raise DataError(f"KaggleHouse: the file lacks the columns {', '.join(missing[:8])}"
                        f"{' ...' if len(missing) > 8 else ''}, which the model was trained with.")
    features = features[prep["numeric"] + prep["categorical"]].copy()
    numeric = prep["numeric"]
    features[numeric] = features[numeric].apply(pd.to_numeric, errors="coerce").astype("float64")
    features[prep["skewed"]] = np.log1p(features[prep["skewed"]])
    mean, std = pd.Series(prep["mean"], index=numeric), pd.Series(prep["std"], index=numeric)
    features[numeric] = ((features[numeric] - mean) / std).fillna(0)
    features[prep["categorical"]] = features[prep["categorical"]].astype(object)
    encoded = pd.get_dummies(features, columns=prep["categorical"], dummy_na=True)
    return encoded.reindex(columns=prep["columns"], fill_value=0).astype("float32")


def preprocess(train: pd.DataFrame, test: pd.DataFrame,
               log_skewed: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The book's feature tables (train, test) from the raw CSVs: `fit_preprocessing` on both,
    applied to each."""
    prep = fit_preprocessing(train, test, log_skewed)
    return apply_preprocessing(train.iloc[:, 1:-1], prep), apply_preprocessing(test.iloc[:, 1:], prep)


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

    def data_files(self) -> list[DataFile]:
        """What `python -m d2l_lightning data` fetches and verifies for offline use."""
        return list(FILES)

    #: preprocessing statistics of the run that trained the model (from its checkpoint), if any
    fitted: dict | None = None
    preprocessing: dict | None = None  # the statistics in use (fitted here, or `fitted`)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "preprocessing": self.preprocessing}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.fitted = state_dict.get("preprocessing") or self.fitted

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        paths = fetch("KaggleHouse", FILES, self.data_dir, verify=self.checksum)
        train, test = (_read_csv(paths[f"kaggle_house/{name}.csv"]) for name in ("train", "test"))
        if "SalePrice" not in train.columns or "Id" not in test.columns:
            raise DataError("KaggleHouse: train.csv needs an Id first and SalePrice last column, "
                            "test.csv an Id column; these files are not the competition's.")
        if len(train) == 0 or len(test) == 0:
            empty = paths["kaggle_house/train.csv" if len(train) == 0 else "kaggle_house/test.csv"]
            raise DataError(f"KaggleHouse: {empty} has a header but no houses. Give a file with at least "
                            "one row.")
        if self.fold is not None and self.num_folds > len(train):
            raise ConfigError(f"KaggleHouse: num_folds={self.num_folds} is more folds than there are training "
                              f"houses ({len(train)}); use at most {len(train)} (book: 5).")
        # a model trained before keeps the statistics it was trained with (see `fit_preprocessing`)
        self.preprocessing = self.fitted or fit_preprocessing(train, test, self.log_skewed)
        X = torch.tensor(apply_preprocessing(train.iloc[:, 1:-1], self.preprocessing).to_numpy())
        X_test = apply_preprocessing(test.drop(columns=["Id", "SalePrice"], errors="ignore"),
                                     self.preprocessing)
        y = torch.tensor(pd.to_numeric(train["SalePrice"], errors="coerce").to_numpy(),
                         dtype=torch.float32).reshape(-1, 1)
        if not torch.isfinite(y).all() or (y <= 0).any():
            raise DataError("KaggleHouse: train.csv has SalePrice values that are missing, not numbers or "
                            "not positive; log RMSE needs positive prices.")
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


def _read_csv(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"KaggleHouse: {path} is empty (0 bytes or no header). Replace it with the "
                        "competition's file (checksum: true verifies it).") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"KaggleHouse: {path} is not a valid CSV file ({str(e).splitlines()[0]}). Replace "
                        "it with the competition's file (checksum: true verifies it).") from None
