"""Base classes: `D2LModule` -> `Classifier`, `Regressor`, `LanguageModel`; `D2LDataModule`."""

from d2l_lightning.core.datamodule import D2LDataModule
from d2l_lightning.core.language_model import LanguageModel
from d2l_lightning.core.module import Classifier, D2LModule, Regressor, load

__all__ = ["Classifier", "D2LDataModule", "D2LModule", "LanguageModel", "Regressor", "load"]
