"""5.1: the 6x8 image whose middle four columns are black (0) and the rest white (1), and its
edge map Y = corr2d(X, [[1, -1]]) (1 where white turns black, -1 where black turns white)."""

import torch

from d2l_lightning.core.datamodule import D2LDataModule, TensorBatchDataset
from d2l_lightning.scratch import corr2d


def edge_image(height: int = 6, width: int = 8) -> torch.Tensor:
    X = torch.ones(height, width)
    X[:, 2:6] = 0
    return X


class EdgeImage(D2LDataModule):
    """One example (X, Y): the book's edge image and its edge map under the kernel `true_w`
    (bias `true_b`). Every stage sees this one example; each epoch is one gradient step.

    Args:
        true_w: the 1x2 kernel that makes Y (book: [1, -1]).
        true_b: bias added to Y (book: 0).
    """

    def __init__(self, true_w: tuple[float, float] = (1.0, -1.0), true_b: float = 0.0):
        super().__init__(batch_size=1)
        self.true_w = torch.tensor([float(v) for v in true_w])
        self.true_b = float(true_b)
        X = edge_image()
        Y = corr2d(X, self.true_w.reshape(1, -1)) + self.true_b
        self.train_set = self.val_set = self.test_set = TensorBatchDataset(X[None], Y[None])
