"""Base LightningDataModule: batch size and data-folder options, fast in-memory loaders whose
shuffling depends only on (seed, epoch) so a resumed run sees the same batches, and the hooks a
dataset fills in:

- `collate(items)`: how a list of dataset items becomes a batch (padding for text, box padding for
  detection); datasets that return whole batches (`TensorBatchDataset`) skip it;
- `transform(batch)`: the deterministic per-batch transform of every stage, on the device after
  transfer (Fashion-MNIST's uint8 -> float and resize), and `augment(batch)`: training batches
  only, after `transform` (random augmentation must never touch validation, test or predict);
- `prediction_frame(outputs)` and `prediction_filename`: the table `predict` writes;
  `prediction_files(outputs, run_dir)`: any files beside it (heatmaps, images with boxes).
"""

from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from d2l_lightning.compat import batches_done_in_epoch
from d2l_lightning.errors import CheckpointError, ConfigError, check_range


class TensorBatchDataset(Dataset):
    """Like `TensorDataset`, but the DataLoader fetches a whole batch with one indexing operation
    (`__getitems__`) instead of one Python call per sample.

    The rows are gathered by NumPy on views of the (CPU) tensors: for a batch of 256 Fashion-MNIST
    images that takes ~20 us against ~300 us for `tensor[index]` on this 2-core CPU (`index_select`:
    ~85 us), and turning the sampler's list of ints into an index is ~5 us instead of ~30 us."""

    #: `__getitems__` returns a finished batch: the loader needs no collate function
    returns_batches = True

    def __init__(self, *tensors: Tensor):
        if not tensors or any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError("TensorBatchDataset needs tensors with the same first dimension")
        self.tensors = tensors
        # dtypes NumPy lacks (bfloat16) or tensors off the CPU keep torch indexing
        self._arrays = [t.numpy() if t.device.type == "cpu" and t.dtype != torch.bfloat16
                        and not t.requires_grad else None for t in tensors]

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, i):
        return tuple(t[i] for t in self.tensors)

    def __getitems__(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        return tuple(torch.from_numpy(a[idx]) if a is not None else t[torch.from_numpy(idx)]
                     for t, a in zip(self.tensors, self._arrays))


# Salts keep the data generators' streams apart from the training seed's: with both seeded 0, a
# generated dataset would share its random numbers with the weight initialisation.
_DATA_SALT = 0x5EED_DA7A
_SHUFFLE_SALT = 0x5EED_5EED


def data_generator(seed: int) -> torch.Generator:
    """Generator for making or splitting data, independent of the training seed."""
    return torch.Generator().manual_seed(_DATA_SALT + seed)


def keep_batch(batch):
    """collate_fn for datasets that already return whole batches."""
    return batch


def _gather(dataset: Dataset, indices: list[int]):
    """Items `indices` of a dataset: one batch from `__getitems__` where the dataset has it."""
    if hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(indices)
    return [dataset[i] for i in indices]


class D2LDataLoader(DataLoader):
    """The DataLoader of every data module, with two changes for exact resuming:

    - its iterators draw their workers' base seed from a generator of their own (seeded by
      `seed`, by default the run's seed), not from the global RNG: otherwise each new iterator
      shifts the dropout masks that follow, and a resumed run, which creates its iterators at other
      moments, would drift from the uninterrupted one;
    - its next pass can start `skip_batches` batches in, so a run resumed from a mid-epoch
      checkpoint (saved on SIGTERM) trains on exactly the rest of the interrupted epoch. The
      skipped batches are drawn and dropped at the first `next()`, after Lightning has set the
      sampler's epoch; under DDP each rank skips its own.
    """

    def __init__(self, *args, skip_batches: int = 0, seed: int | None = None, **kwargs):
        seed = torch.initial_seed() if seed is None else seed
        kwargs.setdefault("generator", torch.Generator().manual_seed(seed))
        super().__init__(*args, **kwargs)
        self.skip_batches = skip_batches

    def __iter__(self):
        it = super().__iter__()
        skip, self.skip_batches = self.skip_batches, 0
        return _dropping(it, skip) if 0 < skip < len(self) else it


def _dropping(it, n: int):
    for _ in range(n):
        next(it)
    yield from it


class EpochShuffleSampler(Sampler[int]):
    """Random order that is a function of (seed, epoch) only. Lightning calls `set_epoch` before
    each epoch, so a run resumed at an epoch boundary draws exactly the batches the uninterrupted
    run would have, whatever else consumed the global RNG meanwhile."""

    def __init__(self, num_samples: int, seed: int):
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        mixed = ((self.seed % 2**31) * 1_000_003 + self.epoch) ^ _SHUFFLE_SALT
        g = torch.Generator().manual_seed(mixed % 2**63)
        return iter(torch.randperm(self.num_samples, generator=g).tolist())


def held_out_count(val_split: float, n: int, what: str = "training items") -> int:
    """How many of `n` training items `val_split` holds out: a fraction in (0, 1), or a whole count
    of at least 2 (1 is refused: as a fraction it holds out everything, as a count one item)."""
    if not val_split:
        return 0
    if val_split == 1 or (val_split > 1 and val_split != int(val_split)):
        raise ConfigError(f"val_split={val_split} is neither a fraction in (0, 1) nor a whole count of "
                          f"{what} (at least 2). E.g. 0.1 holds out a tenth, 5000 holds out 5,000; 0 "
                          "validates on the official test split.")
    n_val = int(round(val_split * n)) if val_split < 1 else int(val_split)
    if n_val == 0 or n_val >= n:
        raise ConfigError(f"val_split={val_split} holds out {n_val} of the {n} {what}, which leaves "
                          f"{'no validation' if n_val == 0 else 'no training'} data. Give a fraction or "
                          f"count in between.")
    return n_val


class D2LDataModule(pl.LightningDataModule):
    """Base of every dataset.

    Args:
        batch_size: minibatch size for every stage.
        num_workers: DataLoader worker processes (0 = load in the main process; enough for
            in-memory tensors).
        data_dir: where the files are; default `$D2L_DATA_DIR`, else `./data`.
    """

    #: name of the file `predict` writes into the run directory
    prediction_filename = "predictions.csv"

    def __init__(self, batch_size: int = 256, num_workers: int = 0, data_dir: str | None = None):
        super().__init__()
        check_range("batch_size", batch_size, ">= 1",
                    "Set it in the config (data.init_args.batch_size) or with --data.batch_size.")
        check_range("num_workers", num_workers, ">= 0")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.data_dir = data_dir
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self.predict_set: Dataset | None = None

    # --- hooks for a dataset -------------------------------------------------------------------------
    def collate(self, items: list) -> Any:
        """A batch from a list of dataset items; the default stacks them (torch's default_collate).
        Variable-length items (token sequences, boxes per image) pad here."""
        return default_collate(items)

    def transform(self, batch: Any) -> Any:
        """Deterministic transform of every batch of every stage, on its device after transfer."""
        return batch

    def augment(self, batch: Any) -> Any:
        """Random transform of training batches only, after `transform`, on the device."""
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        batch = self.transform(batch)
        trainer = self.trainer
        if trainer is not None and trainer.training:  # not during validation, test, predict
            batch = self.augment(batch)
        return batch

    def collate_fn_for(self, dataset: Dataset):
        return keep_batch if getattr(dataset, "returns_batches", False) else self.collate

    def loader(self, dataset: Dataset, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        """Shuffled (training) loaders start where a resumed mid-epoch checkpoint left off."""
        kwargs = dict(batch_size=batch_size or self.batch_size, collate_fn=self.collate_fn_for(dataset),
                      num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
        if not shuffle:
            return D2LDataLoader(dataset, **kwargs)
        return D2LDataLoader(dataset, sampler=EpochShuffleSampler(len(dataset), torch.initial_seed()),
                             skip_batches=self.take_resume_batches(), **kwargs)

    # A checkpoint written mid-epoch (on SIGTERM) records how many of the epoch's batches were
    # trained; the resumed run's training loader skips them (see D2LDataLoader).
    _resume_batches = 0

    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        done = batches_done_in_epoch(trainer)
        return {"train_batches_done": done if done < trainer.num_training_batches else 0,
                "batch_size": self.batch_size, "world_size": trainer.world_size}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        done = int(state_dict.get("train_batches_done", 0))
        trainer = self.trainer
        if done and trainer is not None and trainer.state.fn == "fit":
            # the epoch's remaining batches are only the same batches with the same batch size and
            # number of processes; another split would skip or repeat examples, silently
            saved = (state_dict.get("batch_size", self.batch_size),
                     state_dict.get("world_size", trainer.world_size))
            if saved != (self.batch_size, trainer.world_size):
                raise CheckpointError(
                    f"this checkpoint was saved in the middle of an epoch ({done} batches of {saved[0]} on "
                    f"{saved[1]} process(es)); it can only continue that epoch with the same batch size and "
                    f"number of processes, not {self.batch_size} on {trainer.world_size}. Resume with "
                    f"--data.init_args.batch_size {saved[0]} and {saved[1]} device(s), or resume from a "
                    "checkpoint saved at the end of an epoch (checkpoints/best-NNN.ckpt).")
        self._resume_batches = done

    def take_resume_batches(self) -> int:
        n, self._resume_batches = self._resume_batches, 0
        return n

    def train_dataloader(self):
        return self.loader(self.train_set, shuffle=True)

    def val_dataloader(self):
        return self.loader(self.val_set, shuffle=False) if self.val_set is not None else []

    def test_dataloader(self):
        return self.loader(self.test_set, shuffle=False)

    def predict_dataloader(self):
        return self.loader(self.predict_set if self.predict_set is not None else self.test_set,
                           shuffle=False)

    def example_batch(self, size: int = 2) -> Any:
        """A small real batch as the model sees it (collated, transformed, not augmented): sizes
        lazy layers and gives the model summary its example input. Works for ragged items too,
        since it goes through the data module's own collate."""
        for ds in (self.train_set, self.val_set, self.test_set, self.predict_set):
            if ds is not None and len(ds) > 0:
                items = _gather(ds, list(range(min(size, len(ds)))))
                return self.transform(self.collate_fn_for(ds)(items))
        raise RuntimeError(f"{type(self).__name__}: call setup() before example_batch()")

    def prediction_files(self, outputs: dict[str, Any], run_dir) -> list:
        """Files beside the table that `predict` writes into the run folder (attention heatmaps,
        images with boxes drawn), from the same merged outputs; returns their paths."""
        return []

    def prediction_frame(self, outputs: dict[str, Any]) -> pd.DataFrame:
        """Turns the concatenated `predict_step` outputs into the table `predict` writes."""
        return pd.DataFrame({k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in outputs.items()})
