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

__all__ = [
    "MLP", "VGG", "AlexNet", "BatchNormLeNet", "BatchNormLeNetScratch", "DenseNet", "EdgeDetector",
    "GoogLeNet", "ImageClassifier", "LeNet", "NiN", "ResNet18", "DropoutMLP", "DropoutMLPScratch",
    "HousePriceRegression", "LinearRegression",
    "LinearRegressionScratch", "MLPScratch", "SoftmaxRegression", "SoftmaxRegressionScratch",
    "WeightDecay", "WeightDecayScratch",
]
