"""Base classes: `D2LModule` -> `Classifier`, `Regressor`, `LanguageModel`, `EncoderDecoder`;
`D2LDataModule`."""

from d2l_lightning.core.datamodule import D2LDataModule
from d2l_lightning.core.encoder_decoder import EncoderDecoder
from d2l_lightning.core.language_model import LanguageModel
from d2l_lightning.core.module import Classifier, D2LModule, Regressor, load
from d2l_lightning.core.word_embedding import CooccurrenceEmbedding, NegativeSamplingEmbedding, WordEmbedding

__all__ = ["Classifier", "D2LDataModule", "D2LModule", "LanguageModel", "Regressor", "load"]
__all__ += ["EncoderDecoder"]  # chapter 10.9-10.12
__all__ += ["CooccurrenceEmbedding", "NegativeSamplingEmbedding", "WordEmbedding"]  # chapter 10.3-10.5
