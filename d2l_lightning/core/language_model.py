"""`LanguageModel`: the family of chapter 6's character-level models (and later sequence models).

What every such model shares lives here once: the loss (mean cross-entropy over every time step),
`train/ppl` (exp of the epoch's mean loss, the book's perplexity), gradient clipping by global norm
(the book's `grad_clipping`, from `d2l_lightning.scratch`), the hidden state across minibatches
(re-initialised every batch under random sampling; carried and detached under consecutive
sampling), and text generation for `predict` and during training.
"""

import sys
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from pytorch_lightning.loggers import WandbLogger
from torch import Tensor

from d2l_lightning.core.module import D2LModule, SizedByVocabulary
from d2l_lightning.errors import ConfigError, check_range
from d2l_lightning.scratch.rnn import grad_clipping


def detach_state(state: Any) -> Any:
    """The state with every tensor cut from the graph (tensors, tuples and lists of them, None)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def _state_batch_size(state: Any) -> int | None:
    while isinstance(state, (tuple, list)) and state:
        state = state[0]
    return state.shape[-2] if isinstance(state, Tensor) else None


class LanguageModel(SizedByVocabulary, D2LModule):
    """Base of the language models. `forward(X, state)` takes token indices X of shape (batch,
    num_steps) and a state (None = zeros) and returns logits (num_steps, batch, vocab_size) and the
    new state; a concrete model defines `build_network(vocab_size)`, which creates its layers
    (called from `__init__` when vocab_size is given, else from the build hook once the data's
    vocabulary is known). What the family adds to the step contract is its own: the hidden state
    carried between batches (`forward_batch`), a loss per token and the epoch means per token.

    Args:
        vocab_size: size of the vocabulary; null = take it from the data module's `vocab` (the
            checkpoint then records it).
        clip_theta: clip the gradients of all parameters together to this L2 norm (book 1e-2);
            null = no clipping (the trainer's `gradient_clip_val` still applies).
        pred_period: every this many epochs, print (and log to W&B) the continuation of the data
            module's prefixes, as the book does; 0 = never.
        optimizer, scheduler: see `D2LModule`.
    """

    # the book watches the training perplexity (no validation text unless data.val_fraction is set)
    monitor = "train/ppl"
    monitor_mode = "min"
    # perplexity: exp of the epoch's mean loss per token
    derived_metrics = {"ppl": ("loss", torch.exp)}

    def __init__(self, vocab_size: int | None = None, clip_theta: float | None = 0.01, pred_period: int = 0,
                 optimizer: OptimizerCallable | None = None, scheduler: LRSchedulerCallable | None = None,
                 **kwargs):
        super().__init__(optimizer=optimizer, scheduler=scheduler, **kwargs)  # kwargs: init_from ...
        check_range("clip_theta", clip_theta, "> 0", "null = no clipping.", none_ok=True)
        check_range("pred_period", pred_period, ">= 0", "0 = no samples during training.")
        self.clip_theta, self.pred_period = clip_theta, pred_period
        self.vocab_size: int | None = None
        self._states: dict[str, Any] = {}
        if vocab_size is not None:
            self._build_network(vocab_size)

    def build_network(self, vocab_size: int) -> None:
        """Creates the layers for a vocabulary of `vocab_size` tokens (each model defines it)."""
        raise NotImplementedError(f"{type(self).__name__} must define build_network(vocab_size)")

    # --- training ------------------------------------------------------------------------------------
    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        """Mean cross-entropy over every time step and sequence: logits (steps, batch, vocab)
        against labels (batch, steps)."""
        return F.cross_entropy(y_hat.reshape(-1, y_hat.shape[-1]), y.T.reshape(-1))

    def _carries_state(self, stage: str) -> bool:
        dm = self.datamodule
        return bool(dm is not None and hasattr(dm, "carries_state") and dm.carries_state(stage))

    def forward_batch(self, inputs: tuple, stage: str) -> Tensor:
        (X,) = inputs
        state = None
        if self._carries_state(stage):  # consecutive sampling: continue from the last batch's state
            state = self._states.get(stage)
            if _state_batch_size(state) != X.shape[0]:
                state = None
        y_hat, state = self(X, state)
        self._states[stage] = detach_state(state)  # gradients stop at the batch boundary
        return y_hat

    def batch_weight(self, Y: Tensor) -> int:
        return Y.numel()  # every position of every sequence is a predicted token


    def on_train_epoch_start(self) -> None:
        self._states.pop("train", None)  # every epoch starts from a zero state, as the book's

    def on_validation_epoch_start(self) -> None:
        self._states.pop("val", None)

    def on_test_epoch_start(self) -> None:
        self._states.pop("test", None)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        if self.clip_theta is not None:
            grad_clipping(self.parameters(), self.clip_theta)
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # --- generation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prefix: str, num_chars: int, vocab, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> str:
        """6.4 `predict_rnn`: run the prefix through the model, then append `num_chars` tokens, each
        fed back as the next input: the most likely one (temperature 0), or one drawn from
        softmax(logits / temperature) with `generator`."""
        if not prefix:
            raise ConfigError("cannot generate from an empty prefix: give at least one character.")
        tokens = vocab.encode(prefix)  # unknown characters: ConfigError naming them
        was_training = self.training
        self.eval()
        try:
            y_hat, state = self(torch.tensor([tokens], device=self.device), None)
            for i in range(num_chars):
                logits = y_hat[-1, 0]
                if temperature > 0:
                    probs = F.softmax(logits.float().cpu() / temperature, dim=-1)
                    nxt = int(torch.multinomial(probs, 1, generator=generator))
                else:
                    nxt = int(logits.argmax())
                tokens.append(nxt)
                if i + 1 < num_chars:
                    y_hat, state = self(torch.tensor([[nxt]], device=self.device), state)
        finally:
            self.train(was_training)
        return vocab.decode(tokens)

    def _generator(self, offset: int) -> torch.Generator:
        return torch.Generator().manual_seed((torch.initial_seed() + 7919 * offset) % 2**63)

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        dm = self.datamodule
        epoch = self.current_epoch + 1
        if not self.pred_period or epoch % self.pred_period or getattr(dm, "vocab", None) is None:
            return
        if self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        texts = [self.generate(p, dm.pred_len, dm.vocab, dm.temperature, self._generator(epoch))
                 for p in dm.prefixes]
        bar = self.trainer.progress_bar_callback
        for text in texts:
            line = f" - {text}"
            if bar is not None and hasattr(bar, "print") and bar.is_enabled:
                bar.print(line)
            else:
                print(line, file=sys.stdout, flush=True)
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_text(key="samples", columns=["epoch", "prefix", "text"],
                                data=[[epoch, p, t] for p, t in zip(dm.prefixes, texts)])

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0) -> dict[str, list[str]]:
        """A batch of prefixes -> their continuations (`generated.csv`: prefix, text)."""
        dm = self.datamodule
        if getattr(dm, "vocab", None) is None:
            raise ConfigError(f"{type(self).__name__}.predict needs a data module with a vocabulary.")
        prefixes = [batch] if isinstance(batch, str) else list(batch)
        gen = self._generator(batch_idx)
        texts = [self.generate(p, dm.pred_len, dm.vocab, dm.temperature, gen) for p in prefixes]
        return {"prefix": prefixes, "text": texts}
