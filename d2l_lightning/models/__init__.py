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
from d2l_lightning.models.finetune import FineTuneResNet18
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
from d2l_lightning.models.sentiment import BiRNN, TextClassifier, TextCNN
from d2l_lightning.models.seq2seq import Seq2Seq, Seq2SeqAttention
from d2l_lightning.models.ssd import Detector, TinySSD
from d2l_lightning.models.transformer import TransformerSeq2Seq
from d2l_lightning.models.word2vec import GloVe, SkipGram

__all__ = ["AlexNet", "BatchNormLeNet", "BatchNormLeNetScratch", "DenseNet", "DropoutMLP",
    "DropoutMLPScratch", "EdgeDetector", "GRUScratch", "GoogLeNet", "HousePriceRegression",
    "ImageClassifier", "LSTMScratch", "LeNet", "LinearRegression", "LinearRegressionScratch",
    "MLP", "MLPScratch", "NiN", "RNNModel", "RNNScratch", "ResNet18", "SoftmaxRegression",
    "SoftmaxRegressionScratch", "VGG", "WeightDecay", "WeightDecayScratch"]
__all__ += ["Seq2Seq", "Seq2SeqAttention", "TransformerSeq2Seq"]  # chapter 10.9-10.12
__all__ += ["GloVe", "SkipGram"]  # chapter 10.3-10.5
__all__ += ["BiRNN", "TextCNN", "TextClassifier"]  # chapter 10.7-10.8
__all__ += ["FineTuneResNet18"]  # chapter 9.2
__all__ += ["Detector", "TinySSD"]  # SSD, beyond the book (9.3-9.4 anchors)
