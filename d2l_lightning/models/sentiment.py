"""10.7/10.8 sentiment classifiers on word indices: `BiRNN` (a bidirectional LSTM) and `TextCNN`
(1-D convolutions with max-over-time pooling), both starting from pretrained GloVe vectors."""

from abc import ABCMeta, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2l_lightning.core.module import Classifier
from d2l_lightning.errors import ConfigError, check_range


class TextClassifier(Classifier, metaclass=ABCMeta):
    """Base of the sentiment models: a `Classifier` (cross-entropy, accuracy, predicted labels with
    their probabilities) over (batch, num_steps) word indices, whose embedding layers start from
    the data module's pretrained vectors.

    The layers are made once the vocabulary is known (the build hook), or at once when
    `vocab_size` and `embed_size` are given (a checkpoint records both, so `load` rebuilds the
    model). Frozen embeddings get no gradient and are left out of the optimizer, as the book's
    `filter(lambda p: p.requires_grad, net.parameters())`.

    Args:
        vocab_size: null = the data module's vocabulary size.
        embed_size: null = the dimension of the pretrained vectors (book 100, GloVe 6B 100d).
        pretrained: load the data module's GloVe vectors into the embedding layers (the book);
            False = random embeddings, all trained.
        num_classes: 2 (negative, positive).
        optimizer, scheduler: see `D2LModule`.
    """

    def __init__(self, vocab_size: int | None = None, embed_size: int | None = None, pretrained: bool = True,
                 num_classes: int = 2, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        check_range("embed_size", embed_size, ">= 1", "null = the size of the pretrained vectors.",
                    none_ok=True)
        self.pretrained = pretrained
        self.vocab_size, self.embed_size = None, embed_size
        self.weights_loaded = False  # set by load_state_dict: the build hook then keeps them
        if vocab_size is not None and embed_size is not None:
            self._build_network(vocab_size, embed_size)

    @abstractmethod
    def build_network(self, vocab_size: int, embed_size: int) -> None:
        """Creates the layers (each model defines it)."""

    @abstractmethod
    def embeddings(self) -> list[tuple[nn.Embedding, bool]]:
        """The embedding layers and, for each, whether the book freezes it once pretrained."""

    def _build_network(self, vocab_size: int, embed_size: int) -> None:
        check_range("vocab_size", vocab_size, ">= 2")
        self.build_network(vocab_size, embed_size)
        if self.pretrained:
            for layer, frozen in self.embeddings():
                layer.weight.requires_grad_(not frozen)
        self.vocab_size, self.embed_size = vocab_size, embed_size
        # saved in checkpoints: `load` rebuilds the model without the data
        self.hparams.update(vocab_size=vocab_size, embed_size=embed_size)

    def build(self, datamodule) -> None:
        vocab = getattr(datamodule, "vocab", None)
        if vocab is None:
            if self.vocab_size is None:
                raise ConfigError(f"{type(self).__name__} needs model.init_args.vocab_size and embed_size, "
                                  "or a data module with a vocabulary to take them from.")
            return
        vectors = None
        if self.pretrained and not self.weights_loaded:
            vectors = datamodule.pretrained_vectors() if hasattr(datamodule, "pretrained_vectors") else None
            if vectors is None:
                raise ConfigError(f"{type(self).__name__}: pretrained is true but the data has no "
                                  "pretrained vectors (data.init_args.glove is null); set one, or "
                                  "model.init_args.pretrained false to learn the embeddings from scratch.")
        embed_size = self.embed_size or (vectors.shape[1] if vectors is not None else None)
        if embed_size is None:
            raise ConfigError(f"{type(self).__name__} without pretrained vectors needs "
                              "model.init_args.embed_size.")
        if vectors is not None and vectors.shape[1] != embed_size:
            raise ConfigError(f"model.init_args.embed_size is {embed_size} but the pretrained vectors have "
                              f"{vectors.shape[1]} dimensions; set it to {vectors.shape[1]} or leave it out.")
        if self.vocab_size is None:
            self._build_network(len(vocab), embed_size)
        elif self.vocab_size != len(vocab):
            raise ConfigError(f"model.init_args.vocab_size is {self.vocab_size} but the data has a vocabulary "
                              f"of {len(vocab)}; set it to {len(vocab)} or leave it out.")
        if vectors is not None:
            with torch.no_grad():
                for layer, _ in self.embeddings():
                    layer.weight.copy_(vectors)

    def load_state_dict(self, state_dict, *args, **kwargs):
        # A model rebuilt from a checkpoint by `load` and then given to a Trainer goes through the build
        # hook again: its trained embeddings must not be overwritten with GloVe's. (Under the CLI,
        # `--ckpt_path` is restored after the build hook, so this does not arise there.)
        self.weights_loaded = True
        return super().load_state_dict(state_dict, *args, **kwargs)

    def param_groups(self):
        return [p for p in self.parameters() if p.requires_grad]


class BiRNN(TextClassifier):
    """10.7: embedding -> 2-layer bidirectional LSTM -> the outputs of the first and the last time
    step concatenated (4 x num_hiddens) -> linear layer to 2 classes. The pretrained embedding is
    frozen.

    Args:
        num_hiddens: LSTM hidden units per direction (book 100).
        num_layers: LSTM layers (book 2).
        vocab_size, embed_size, pretrained, num_classes, optimizer, scheduler: see `TextClassifier`.
    """

    def __init__(self, num_hiddens: int = 100, num_layers: int = 2, **kwargs):
        check_range("num_hiddens", num_hiddens, ">= 1")
        check_range("num_layers", num_layers, ">= 1")
        self.num_hiddens, self.num_layers = num_hiddens, num_layers  # used by build_network
        super().__init__(**kwargs)

    def build_network(self, vocab_size: int, embed_size: int) -> None:
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.encoder = nn.LSTM(embed_size, self.num_hiddens, num_layers=self.num_layers, bidirectional=True)
        self.decoder = nn.Linear(4 * self.num_hiddens, self.num_classes)

    def embeddings(self):
        return [(self.embedding, True)]

    def forward(self, inputs: Tensor) -> Tensor:
        # the LSTM takes (num_steps, batch, features): transpose the indices before embedding
        embeddings = self.embedding(inputs.T)
        outputs, _ = self.encoder(embeddings)  # (num_steps, batch, 2 * num_hiddens)
        encoding = torch.cat((outputs[0], outputs[-1]), dim=-1)
        return self.decoder(encoding)


class GlobalMaxPool1d(nn.Module):
    """10.8 max-over-time pooling: (batch, channels, steps) -> (batch, channels, 1), the largest
    value of each channel over all its time steps (so channels of different widths pool alike)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool1d(x, kernel_size=x.shape[2])


class TextCNN(TextClassifier):
    """10.8 textCNN (Kim, 2014): a trained and a frozen embedding of the same pretrained vectors,
    concatenated as 2 x embed_size input channels -> one 1-D convolution per kernel width (ReLU,
    max-over-time pooling) -> the pooled channels concatenated -> dropout -> linear layer.

    Args:
        kernel_sizes: convolution widths (book 3, 4, 5).
        num_channels: output channels of each convolution (book 100 each).
        dropout: dropout before the output layer (book 0.5).
        vocab_size, embed_size, pretrained, num_classes, optimizer, scheduler: see `TextClassifier`.
    """

    def __init__(self, kernel_sizes: tuple[int, ...] = (3, 4, 5),
                 num_channels: tuple[int, ...] = (100, 100, 100), dropout: float = 0.5, **kwargs):
        if len(kernel_sizes) != len(num_channels) or not kernel_sizes:
            raise ConfigError(f"kernel_sizes {list(kernel_sizes)} and num_channels {list(num_channels)} must "
                              "be non-empty lists of the same length (one convolution each).")
        for k in kernel_sizes:
            check_range("kernel_sizes", k, ">= 1")
        for c in num_channels:
            check_range("num_channels", c, ">= 1")
        check_range("dropout", dropout, "[0, 1)")
        self.kernel_sizes, self.num_channels, self.dropout_p = list(kernel_sizes), list(num_channels), dropout
        super().__init__(**kwargs)

    def build_network(self, vocab_size: int, embed_size: int) -> None:
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.constant_embedding = nn.Embedding(vocab_size, embed_size)  # frozen once pretrained
        self.dropout = nn.Dropout(self.dropout_p)
        self.decoder = nn.Linear(sum(self.num_channels), self.num_classes)
        self.pool = GlobalMaxPool1d()  # no weights: one instance serves every convolution
        self.convs = nn.ModuleList(nn.Conv1d(2 * embed_size, c, k) for c, k in zip(self.num_channels,
                                                                                    self.kernel_sizes))

    def embeddings(self):
        return [(self.embedding, False), (self.constant_embedding, True)]

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.shape[1] < max(self.kernel_sizes):
            raise ConfigError(f"TextCNN needs at least {max(self.kernel_sizes)} words per input (its widest "
                              f"kernel), got {inputs.shape[1]}; pad the inputs (data.init_args.num_steps).")
        # (batch, steps, 2 * embed) -> (batch, 2 * embed, steps): Conv1d wants the channels first
        embeddings = torch.cat((self.embedding(inputs), self.constant_embedding(inputs)), dim=2)
        embeddings = embeddings.permute(0, 2, 1)
        encoding = torch.cat([self.pool(F.relu(conv(embeddings))).squeeze(-1) for conv in self.convs], dim=1)
        return self.decoder(self.dropout(encoding))
