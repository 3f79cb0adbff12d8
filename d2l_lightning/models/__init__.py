"""Book models, named as in the book. Importing this package makes every class selectable by its
short name in configs (`class_path: LeNet`)."""

from d2l_lightning.models.house import HousePriceRegression
from d2l_lightning.models.linear import (
    LinearRegression,
    LinearRegressionScratch,
    SoftmaxRegression,
    SoftmaxRegressionScratch,
    WeightDecay,
    WeightDecayScratch,
)
from d2l_lightning.models.mlp import MLP, DropoutMLP, DropoutMLPScratch, MLPScratch
from d2l_lightning.models.rnn import GRUScratch, LSTMScratch, RNNModel, RNNScratch

__all__ = [
    "GRUScratch", "LSTMScratch", "RNNModel", "RNNScratch",
    "MLP", "DropoutMLP", "DropoutMLPScratch", "HousePriceRegression", "LinearRegression",
    "LinearRegressionScratch", "MLPScratch", "SoftmaxRegression", "SoftmaxRegressionScratch",
    "WeightDecay", "WeightDecayScratch",
]
