"""The book's generated datasets (3.2/3.3 linear, 3.11 polynomial, 3.12 high-dimensional linear).

Data come from their own generator seeded by `seed`, so they are the same whatever the run's
training seed is, and runs with different models see the same data.
"""

from typing import Literal

import torch

from d2l_lightning.core.datamodule import D2LDataModule, TensorBatchDataset, data_generator
from d2l_lightning.errors import ConfigError, check_range


class SyntheticLinear(D2LDataModule):
    """y = X w + b + noise with X ~ N(0, 1).

    3.2/3.3: 1000 examples, w = [2, -3.4], b = 4.2, noise std 0.01; the book watches the loss on
    all training examples, so with `num_val=0` the `val` stage evaluates the training set.
    3.12: `num_inputs=200`, `true_w=0.01` (every weight), `true_b=0.05`, 20 training and 100 test
    examples (`num_val=100`).

    Args:
        num_train, num_val: sizes of the two splits (`num_val=0`: validate on the training set).
        true_w: the weights, one per input, or one number repeated `num_inputs` times.
        true_b: the bias. noise: standard deviation of the Gaussian noise.
        seed: seed of the data generator (not of training).
    """

    def __init__(self, num_train: int = 1000, num_val: int = 0, num_inputs: int = 2,
                 true_w: tuple[float, ...] | float = (2.0, -3.4), true_b: float = 4.2, noise: float = 0.01,
                 batch_size: int = 10, seed: int = 0):
        super().__init__(batch_size=batch_size)
        check_range("num_train", num_train, ">= 1")
        check_range("num_val", num_val, ">= 0", "0 validates on the training set.")
        w = torch.full((num_inputs,), float(true_w)) if isinstance(true_w, (int, float)) \
            else torch.tensor([float(v) for v in true_w])
        if w.numel() != num_inputs:
            raise ConfigError(f"true_w has {w.numel()} values but num_inputs is {num_inputs}.")
        self.true_w, self.true_b = w, float(true_b)
        g = data_generator(seed)
        n = num_train + num_val
        X = torch.randn(n, num_inputs, generator=g)
        y = X @ w + true_b + noise * torch.randn(n, generator=g)
        y = y.reshape(-1, 1)
        self.train_set = TensorBatchDataset(X[:num_train], y[:num_train])
        self.val_set = TensorBatchDataset(X[num_train:], y[num_train:]) if num_val else self.train_set
        self.test_set = self.val_set


class PolynomialData(D2LDataModule):
    """3.11: y = 1.2x - 3.4x^2 + 5.6x^3 + 5 + noise(0.01), x ~ N(0, 1).

    Args:
        num_train, num_test: split sizes (book: 100 and 100; the overfitting run trains on 2).
        features: `cubic` gives [x, x^2, x^3] (normal fit and overfitting), `linear` gives [x]
            only (underfitting).
        seed: data generator seed. The test split does not depend on `num_train`.
    """

    true_w = (1.2, -3.4, 5.6)
    true_b = 5.0

    def __init__(self, num_train: int = 100, num_test: int = 100,
                 features: Literal["cubic", "linear"] = "cubic", noise: float = 0.01,
                 batch_size: int = 10, seed: int = 0):
        super().__init__(batch_size=batch_size)
        check_range("num_train", num_train, ">= 1")
        check_range("num_test", num_test, ">= 1")
        g = data_generator(seed)
        n_max = 100 + num_test if num_train <= 100 else num_train + num_test
        x = torch.randn(n_max, 1, generator=g)
        poly = torch.cat([x, x**2, x**3], dim=1)
        y = poly @ torch.tensor(self.true_w).reshape(3, 1) + self.true_b
        y = y + noise * torch.randn(y.shape, generator=g)
        X = poly if features == "cubic" else x
        # The book draws n_train + n_test points and trains on the first n_train (or on the
        # first 2); the test points are the last n_test.
        self.train_set = TensorBatchDataset(X[:num_train], y[:num_train])
        self.val_set = TensorBatchDataset(X[-num_test:], y[-num_test:])
        self.test_set = self.val_set
