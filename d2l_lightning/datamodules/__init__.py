"""Datasets as LightningDataModules (selectable by short name in configs)."""

from d2l_lightning.datamodules.airfoil import Airfoil
from d2l_lightning.datamodules.edge import EdgeImage
from d2l_lightning.datamodules.fashion_mnist import FashionMNIST
from d2l_lightning.datamodules.kaggle_house import KaggleHouse
from d2l_lightning.datamodules.lyrics import CharSequenceData, JayChouLyrics
from d2l_lightning.datamodules.synthetic import PolynomialData, SyntheticLinear

__all__ = ["Airfoil", "CharSequenceData", "EdgeImage", "FashionMNIST", "JayChouLyrics",
    "KaggleHouse", "PolynomialData", "SyntheticLinear"]
