"""A test callback that sends its own process a real SIGTERM at a chosen point of training
(imported by the CLI subprocess of tests/test_faults.py through `trainer.callbacks`)."""

import os
import signal

from pytorch_lightning import Callback


class SignalAt(Callback):
    """SIGTERM after training batch `batch` of epoch `epoch` (both 0-based), or at the end of
    epoch `epoch` when `batch` is None."""

    def __init__(self, epoch: int, batch: int | None = None):
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.batch is not None and (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.batch is None and trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)
