"""Book models, named as in the book. Importing this package makes every class selectable by its
short name in configs (`class_path: LeNet`)."""

from d2l_lightning.models.cnn import (
    VGG,
    AlexNet,
    BatchNormLeNet,
    BatchNormLeNetScratch,
    DenseNet,
    EdgeDetector,
    GoogLeNet,
    ImageClassifier,
    LeNet,
    NiN,
    ResNet18,
)
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

__all__ = ["AlexNet", "BatchNormLeNet", "BatchNormLeNetScratch", "DenseNet", "DropoutMLP",
    "DropoutMLPScratch", "EdgeDetector", "GRUScratch", "GoogLeNet", "HousePriceRegression",
    "ImageClassifier", "LSTMScratch", "LeNet", "LinearRegression", "LinearRegressionScratch",
    "MLP", "MLPScratch", "NiN", "RNNModel", "RNNScratch", "ResNet18", "SoftmaxRegression",
    "SoftmaxRegressionScratch", "VGG", "WeightDecay", "WeightDecayScratch"]
