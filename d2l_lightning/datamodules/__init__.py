"""Datasets as LightningDataModules (selectable by short name in configs)."""

from d2l_lightning.datamodules.airfoil import Airfoil
from d2l_lightning.datamodules.cifar10 import CIFAR10
from d2l_lightning.datamodules.detection import ShapeDetection
from d2l_lightning.datamodules.edge import EdgeImage
from d2l_lightning.datamodules.fashion_mnist import FashionMNIST
from d2l_lightning.datamodules.image_folder import ImageFolder
from d2l_lightning.datamodules.imdb import IMDb
from d2l_lightning.datamodules.kaggle_house import KaggleHouse
from d2l_lightning.datamodules.lyrics import CharSequenceData, JayChouLyrics
from d2l_lightning.datamodules.ptb import PTB, PTBCooccurrence, PTBWords
from d2l_lightning.datamodules.synthetic import PolynomialData, SyntheticLinear
from d2l_lightning.datamodules.translation import TranslationPairs

__all__ = ["Airfoil", "CharSequenceData", "EdgeImage", "FashionMNIST", "JayChouLyrics",
    "KaggleHouse", "PolynomialData", "SyntheticLinear"]
__all__ += ["PTB", "PTBCooccurrence", "PTBWords"]  # chapter 10.3-10.5
__all__ += ["IMDb"]  # chapter 10.7-10.8
__all__ += ["TranslationPairs"]  # chapter 10.9-10.12
__all__ += ["CIFAR10", "ImageFolder"]  # chapter 9.1-9.2
__all__ += ["ShapeDetection"]  # SSD, beyond the book (9.3-9.4 anchors)
