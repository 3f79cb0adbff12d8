"""Base LightningModules. A concrete book model states only its network (and, rarely, its loss);
optimizer wiring, metrics, logging, checkpoint extras and predict live here once.

Metric names follow `<stage>/<name>` (`train/loss`, `val/acc`, ...). They are exact means over all
samples (or real tokens) of the epoch: each step adds batch mean x batch weight to a running sum on
the device, and once per epoch the sums are reduced over DDP ranks and logged. (Calling `self.log` every step
costs ~0.8 ms on CPU, more than a whole softmax-regression step, so steps do not log.)
"""

import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from d2l_lightning.compat import FastHookNames
from d2l_lightning.core.weights import align_keys, load_initial_weights
from d2l_lightning.errors import CheckpointError, ConfigError, check_range


def accuracy(y_hat: Tensor, y: Tensor) -> Tensor:
    """Fraction of rows whose highest score is the true class (book 3.6 `accuracy`)."""
    return (y_hat.argmax(dim=1) == y).float().mean()


def state_dict_mismatch(expected: dict[str, Tensor], got: dict[str, Tensor]) -> str | None:
    """What keeps `got` from loading into a model whose state dict is `expected`, or None."""
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    shapes = [f"{k} {tuple(got[k].shape)} instead of {tuple(expected[k].shape)}" for k in expected
              if k in got and not isinstance(expected[k], nn.parameter.UninitializedParameter)
              and tuple(got[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"it lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    if extra:
        parts.append(f"it has {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''} besides")
    if shapes:
        parts.append(f"it has {', '.join(shapes[:3])}")
    return "; ".join(parts) or None


def has_uninitialized_params(module: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters())


# Device types without float64 (Apple's MPS): epoch sums are float32 there, exact for weights up to
# 2**24 per epoch and means to ~7 digits. Tests add "cpu" to run the same code paths on the CPU.
NO_FLOAT64 = {"mps"}


def sum_dtype(device: torch.device | str) -> torch.dtype:
    """The dtype epoch sums (and other accumulations) use on `device`: float64 where it exists."""
    return torch.float32 if torch.device(device).type in NO_FLOAT64 else torch.float64


def _cast_to(x: Tensor | float, device: torch.device, dtype: torch.dtype) -> Tensor:
    """`x` as `dtype` on `device`, cast on the CPU side of a move (MPS cannot hold float64 at all)."""
    x = torch.as_tensor(x)
    return x.to(dtype).to(device) if x.device.type == "cpu" else x.to(device).to(dtype)


class EpochMean:
    """Exact epoch mean of batch means, each weighted by what the batch counts (its number of
    samples, or of real tokens for a sequence loss: a Python number or a tensor on the device).
    A step only keeps references to its (detached, on-device) value and weight; every `fold_every`
    batches, and when the sum is read, the kept values are added up in float64 (`sum_dtype`) with
    one stack and one dot product on their device. (Adding each step's value at once took three
    small tensor operations per metric per step.)"""

    fold_every = 512

    def __init__(self, total: Tensor | float = 0.0, count: Tensor | float = 0):
        self.total, self.count = total, count
        self.last: Tensor | None = None
        self.finish: Callable[[Tensor], Tensor] | None = None
        self._values: list[Tensor] = []
        self._weights: list[Tensor | float] = []

    def add(self, value: Tensor, weight: Tensor | float) -> None:
        self.last = value  # the latest batch's value, for per-step curves
        self._values.append(value)
        self._weights.append(weight)
        self.count = self.count + weight
        if len(self._values) >= self.fold_every:
            self.sum()

    def sum(self) -> Tensor:
        """Sum of batch mean x batch weight so far (float64, float32 on a device without it)."""
        if self._values:
            device = self._values[0].device
            dtype = sum_dtype(device)
            values = torch.stack(self._values).to(dtype).reshape(-1)
            if any(isinstance(w, Tensor) for w in self._weights):
                weights = torch.stack([torch.as_tensor(w, device=device).to(dtype).reshape(())
                                       for w in self._weights])
            else:
                weights = torch.tensor(self._weights, dtype=dtype, device=device)
            self.total = _cast_to(self.total, device, dtype) + values.dot(weights)
            self._values, self._weights = [], []
        return self.total if isinstance(self.total, Tensor) else torch.tensor(self.total, dtype=torch.float64)


def detach_outputs(outputs: Any) -> Any:
    """`outputs` with every tensor cut from the graph: a tensor, or tuples, lists and dicts of them
    (a detector returns a tuple)."""
    if isinstance(outputs, Tensor):
        return outputs.detach()
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(detach_outputs(o) for o in outputs)
    if isinstance(outputs, dict):
        return {k: detach_outputs(v) for k, v in outputs.items()}
    return outputs


class D2LModule(FastHookNames, pl.LightningModule):
    """Base of every book model.

    **The step contract.** Every stage runs `step(batch, stage)`:

        inputs, target = self.split_batch(batch)   # default: batch[:-1], batch[-1]
        outputs = self.forward_batch(inputs, stage)  # default: self(*inputs); may be a tuple
        loss = self.loss(outputs, target)
        weight = self.batch_weight(target)         # default: the number of samples

    and adds `loss` and the family's metrics (`update_metrics`) to exact epoch means weighted by
    `weight` (samples by default; a token-level loss returns the number of real tokens). A family
    changes one of these hooks, never the step itself; `predict_step` goes through the same split.

    **The build hook.** Layers that need the data (a vocabulary size, pretrained embeddings, lazy
    shapes, a new classification head) are made in `build(datamodule)`, which Lightning's public
    `configure_model()` calls once, after the data module's `setup` and before a checkpoint is
    restored or DDP wraps the model; lazy layers are then materialised with one batch of real
    data and `init_weights()` runs. Scripts without a Trainer call `model.configure_model(dm)`.

    Args:
        optimizer: a callable taking parameters (or parameter groups) and returning an optimizer;
            set by configs (`optimizer: {class_path: torch.optim.SGD, init_args: {lr: 0.1}}`).
            No default on purpose: jsonargparse carries a default optimizer's arguments over to
            the class a config names (a default SGD's lr=0.001 would become Adadelta's lr).
        scheduler: optional callable taking the optimizer and returning an LR scheduler.
        init_from: weights only, loaded once the model is built: a run's checkpoint or a plain
            state dict, for fine-tuning and transfer (`core/weights.py`; `module.` prefixes of
            DataParallel/DDP stripped). A `--ckpt_path` checkpoint restored afterwards wins.
        init_strict: false: tensors missing from the file or of another shape (a new head) keep
            their initialisation; true: any difference is an error.
        init_skip: key prefixes not taken from `init_from` (a new head of the same shape, e.g.
            `[net.fc]`): they keep their initialisation.
        lr_mult: learning-rate multipliers by parameter-name prefix, e.g. `{net.fc: 10}` trains a new
            head at 10x the optimizer's lr while the pretrained body keeps it (9.2's fine-tuning);
            the parameters of each prefix become their own parameter group.
    """

    #: metric that selects the "best" checkpoint, and whether lower or higher is better
    monitor: str = "val/loss"
    monitor_mode: str = "min"
    #: depth of the model summary the CLI shows (image models show their blocks' layers: 2)
    summary_depth: int = 1
    #: metrics logged as a function of another one's epoch mean, e.g. {"ppl": ("loss", torch.exp)}
    derived_metrics: dict[str, tuple[str, Callable[[Tensor], Tensor]]] = {}

    def __init__(
        self,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
        init_from: str | None = None,
        init_strict: bool = False,
        init_skip: list[str] | None = None,
        lr_mult: dict[str, float] | None = None,
    ):
        super().__init__()
        # Callables are not hyperparameters one can put in a checkpoint; the run's config.yaml
        # keeps them. Under the CLI the saved hparams carry the model's class path (see `load`).
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.init_from, self.init_strict, self.init_skip = init_from, init_strict, init_skip
        for prefix, mult in (lr_mult or {}).items():
            check_range(f"lr_mult[{prefix}]", mult, "> 0")
        self.lr_mult = dict(lr_mult or {})
        self.built = False
        # stage -> metric name -> its running epoch mean
        self._epoch_sums: dict[str, dict[str, EpochMean]] = {}

    # --- what a family or model may override ----------------------------------------------------
    def split_batch(self, batch: Any) -> tuple[tuple, Any]:
        """(inputs, target) of a batch: all elements but the last are the inputs of `forward`, the
        last is the target (d2l-en's `self(*batch[:-1])`, `batch[-1]`). A bare tensor or a
        one-element batch (data without labels, as Kaggle's test set) has inputs only: target None."""
        if isinstance(batch, Tensor):
            return (batch,), None
        if len(batch) == 1:
            return tuple(batch), None
        return tuple(batch[:-1]), batch[-1]

    def forward_batch(self, inputs: tuple, stage: str) -> Any:
        """The model's outputs for a batch's inputs (`self(*inputs)`); a family that carries
        something between batches (a language model's hidden state) does it here."""
        return self(*inputs)

    def loss(self, outputs: Any, target: Any) -> Tensor:
        """Mean loss of the batch; families define it (cross-entropy, MSE, masked token losses)."""
        raise NotImplementedError(f"{type(self).__name__} (or its family) must define loss(outputs, target)")

    def batch_weight(self, target: Any) -> Tensor | int:
        """What the batch counts for in the epoch means: its number of samples. A loss averaged over
        real (unpadded) tokens returns their number, so epoch means are means per token."""
        return target.shape[0]

    def update_metrics(self, outputs: Any, target: Any, stage: str, weight: Tensor | int) -> None:
        """Families add their metrics here (accuracy, log RMSE, perplexity) with `log_mean`."""

    def param_groups(self) -> Iterable[Tensor] | list[dict[str, Any]]:
        """What the optimizer gets; override to give groups their own settings (3.12 decays only
        the weight; fine-tuning gives the new head 10x the learning rate)."""
        return self.parameters()

    def build(self, datamodule: Any) -> None:
        """Makes the layers that need the data (see the class docstring); `datamodule` may be None
        for a model used without one."""

    def check_data(self, datamodule: Any) -> None:
        """Refuses data the model cannot be trained on (found at set-up, not as an error mid-training);
        families check what they know (a classifier: its number of outputs against the classes)."""

    def init_weights(self) -> None:
        """Runs once, after `build` and after lazy layers have their shapes, before any checkpoint
        is restored (so resumed weights are never overwritten): book-specific initialisations."""

    # --- the data this model is trained on ------------------------------------------------------
    @property
    def datamodule(self) -> Any:
        """The trainer's data module, or None when the model is not attached to a trainer."""
        try:
            trainer = self.trainer
        except RuntimeError:  # "not attached to a Trainer"
            return None
        return trainer.datamodule if trainer is not None else None

    # --- Lightning hooks ---------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        # Data without a validation set (3.16 trained on the whole training set, a language model
        # without held-out text): no validation loop, rather than one over an empty loader.
        dm = self.datamodule
        if stage == "fit" and dm is not None and getattr(dm, "val_set", True) is None:
            self.trainer.limit_val_batches = 0

    def configure_model(self, datamodule: Any = None) -> None:
        """Builds the model from the data once (idempotent: Lightning calls it for every command)."""
        if self.built:
            return
        dm = datamodule if datamodule is not None else self.datamodule
        self.build(dm)
        self.check_data(dm)
        if has_uninitialized_params(self):
            # Lazy layers must have shapes before DDP wraps the model and before a checkpoint is
            # restored: one dry forward pass on a real batch materialises them. (Under Lightning
            # this runs in the strategy's device context; the batch and its ops stay on the
            # model's current device.)
            if dm is None or not hasattr(dm, "example_batch"):
                raise ConfigError(f"{type(self).__name__} has layers sized by the data (lazy layers) but no "
                                  "data module to size them: pass one to configure_model(datamodule).")
            inputs, _ = self.split_batch(dm.example_batch())
            with torch.no_grad(), torch.device(self.device):
                self(*(x.to(self.device) if isinstance(x, Tensor) else x for x in inputs))
        self.init_weights()
        if self.init_from:  # a --ckpt_path checkpoint restored next overwrites them
            load_initial_weights(self, self.init_from, self.init_strict, self.init_skip)
        self.built = True

    def configure_optimizers(self):
        if self.optimizer is None:
            raise ConfigError(f"{type(self).__name__} has no optimizer: set model.init_args.optimizer in the "
                              "config, e.g. {class_path: torch.optim.SGD, init_args: {lr: 0.1}}.")
        groups = self.scaled_param_groups()
        try:
            optimizer = self.optimizer(groups)
            scheduler = self.scheduler(optimizer) if self.scheduler is not None else None
        except (ValueError, TypeError) as e:
            reason = str(e).rstrip(".")
            raise ConfigError(f"{type(self).__name__}: the optimizer or scheduler in the config cannot "
                              f"be built: {reason}. Fix model.init_args.optimizer / scheduler.") from None
        if scheduler is None:
            return optimizer
        config = {"scheduler": scheduler}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = self.monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

    def scaled_param_groups(self) -> Iterable[Tensor] | list[dict[str, Any]]:
        """`param_groups()` with `lr_mult` applied: each group is split by the prefixes, and the
        parameters under a prefix get that multiple of their group's lr (or the optimizer's)."""
        groups = self.param_groups()
        if not self.lr_mult:
            return groups
        names = {id(p): n for n, p in self.named_parameters()}
        unknown = [k for k in self.lr_mult if not any(n == k or n.startswith(k + ".") for n in names.values())]
        if unknown:
            raise ConfigError(f"lr_mult names {unknown}, which match no parameter of {type(self).__name__} "
                              f"(its parameters are under {', '.join(_prefixes(names.values()))}).")
        groups = list(groups)
        if groups and isinstance(groups[0], Tensor):
            groups = [{"params": groups}]
        default_lr = self.optimizer([nn.Parameter(torch.zeros(1))]).defaults.get("lr")
        scaled = []
        for group in groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            lr = settings.get("lr", default_lr)
            by_prefix: dict[str | None, list[Tensor]] = {}
            for p in group["params"]:
                name = names[id(p)]
                prefix = next((k for k in self.lr_mult if name == k or name.startswith(k + ".")), None)
                by_prefix.setdefault(prefix, []).append(p)
            for prefix, params in by_prefix.items():
                mult = {} if prefix is None else {"lr": lr * self.lr_mult[prefix]}
                scaled.append({**settings, "params": params, **mult})
        return scaled

    def step(self, batch: Any, stage: str) -> Tensor:
        """One batch of any stage: see the class docstring."""
        inputs, target = self.split_batch(batch)
        outputs = self.forward_batch(inputs, stage)
        loss = self.loss(outputs, target)
        weight = self.batch_weight(target)
        self.log_mean(f"{stage}/loss", loss, weight)
        self.update_metrics(detach_outputs(outputs), target, stage, weight)
        return loss

    def log_mean(self, name: str, value: Tensor, weight: Tensor | int,
                 finish: Callable[[Tensor], Tensor] | None = None) -> None:
        """Adds a batch's mean `value` (weighted by `weight`: samples, tokens) to the epoch mean of
        `name` (`"<stage>/<metric>"`), logged at the end of the stage's epoch; `finish` maps the
        mean to the logged value (`torch.sqrt` turns a mean squared error into an RMSE)."""
        metrics = self._epoch_sums.setdefault(name.split("/", 1)[0], {})
        mean = metrics.get(name)
        if mean is None:
            mean = metrics[name] = EpochMean()
        mean.finish = finish  # (a checkpoint restores sums without it)
        mean.add(value.detach(), weight)

    def step_metrics(self) -> dict[str, Tensor]:
        """The latest training batch's value of every train metric (and derived metric), under
        `<name>_step`: what per-step curves show beside the exact epoch means."""
        out = {}
        for name, m in self._epoch_sums.get("train", {}).items():
            if m.last is None:
                continue
            out[f"{name}_step"] = m.finish(m.last) if m.finish else m.last
            for derived, (source, fn) in self.derived_metrics.items():
                if name == f"train/{source}":
                    out[f"train/{derived}_step"] = fn(m.last)
        return out

    def _sums_and_counts(self, stage: str) -> Tensor:
        """[[sum, count], ...] of the stage's metrics, float64 (`sum_dtype`) on this device, summed
        over ranks."""
        dtype = sum_dtype(self.device)
        t = torch.stack([torch.stack([_cast_to(m.sum(), self.device, dtype).reshape(()),
                                      _cast_to(m.count, self.device, dtype).reshape(())])
                         for m in self._epoch_sums[stage].values()])
        return self.trainer.strategy.reduce(t, reduce_op="sum")  # all DDP ranks' samples

    def _log_epoch(self, stage: str, keep: bool = False) -> None:
        if not self._epoch_sums.get(stage):
            return
        logged = {}
        for (name, m), (total, count) in zip(self._epoch_sums[stage].items(), self._sums_and_counts(stage)):
            mean = (total / count).float()
            logged[name] = m.finish(mean) if m.finish else mean
            for derived, (source, fn) in self.derived_metrics.items():
                if name == f"{stage}/{source}":
                    logged[f"{stage}/{derived}"] = fn(mean)
        for name, value in logged.items():
            # already reduced over ranks above, hence no sync_dist
            self.log(name, value, on_step=False, on_epoch=True, prog_bar=stage != "test",
                     rank_zero_only=False)
        if not keep:
            del self._epoch_sums[stage]

    # The epoch's train metrics are logged at its last batch, so that callbacks' on_train_epoch_end
    # (the book-style line, which runs before the module's hook) already sees them.
    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.trainer.is_last_batch:
            self._log_epoch("train")

    def on_train_epoch_end(self) -> None:
        # An epoch cut short (max_steps) logs the mean of the batches it trained, and keeps the sums
        # for its checkpoint: a run resumed from there finishes the epoch with its exact mean.
        self._log_epoch("train", keep=True)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def training_step(self, batch, batch_idx):
        return self.step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self.step(batch, "val")

    def test_step(self, batch, batch_idx):
        self.step(batch, "test")

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0) -> dict[str, Any]:
        inputs, target = self.split_batch(batch)
        return self.predict_outputs(self.forward_batch(inputs, "predict"), target)

    def predict_outputs(self, outputs: Any, target: Any) -> dict[str, Any]:
        """The columns `predict` writes for a batch (the family's: labels, prices, texts)."""
        out = {"prediction": outputs.squeeze(-1)}
        if target is not None:
            out["target"] = target.squeeze(-1) if target.dim() > 1 else target
        return out

    # Resuming from an epoch-boundary checkpoint must continue exactly like the uninterrupted run:
    # the global RNGs (dropout masks, augmentation) are saved with the weights. Stored as tensors
    # and plain Python values so the checkpoint still loads with `weights_only=True`.
    # A checkpoint written mid-epoch (on SIGTERM) also keeps the epoch's running train sums, so
    # the resumed epoch's train metrics are those of the uninterrupted run. Under DDP every rank
    # saves (collectively); the sums of all ranks are kept and restored on rank 0.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        np_state = np.random.get_state()
        checkpoint["d2l_rng"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
            "python": _to_plain(random.getstate()),
        }
        if self._epoch_sums.get("train") and self.trainer.state.fn == "fit":
            t = self._sums_and_counts("train").cpu()
            checkpoint["d2l_train_sums"] = {name: [row[0], float(row[1])]
                                            for name, row in zip(self._epoch_sums["train"], t)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Refuse a checkpoint of another model with a clear message (here, after configure_model
        # has built every layer) instead of load_state_dict's traceback. Keys saved from a
        # DataParallel/DDP-wrapped model (`module.`) are renamed to ours first.
        checkpoint["state_dict"] = align_keys(checkpoint.get("state_dict", {}), self.state_dict())
        problem = state_dict_mismatch(self.state_dict(), checkpoint.get("state_dict", {}))
        if problem:
            raise CheckpointError(
                f"the checkpoint is of another model than {type(self).__name__} from the config: {problem}. "
                "Pass the config.yaml of the run that wrote it (--config <run>/config.yaml).")
        sums = checkpoint.get("d2l_train_sums")
        if sums and self.global_rank == 0:
            self._epoch_sums["train"] = {name: EpochMean(total, count) for name, (total, count) in sums.items()
                                         if name.split("/", 1)[-1] not in self.derived_metrics}
        state = checkpoint.get("d2l_rng")
        if not state:
            return
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))


def _to_plain(obj):
    return [_to_plain(o) for o in obj] if isinstance(obj, tuple) else obj


class SizedByVocabulary:
    """Mixin (before `D2LModule`) for models whose layers are sized by the data's vocabulary: a model
    defines `build_network(vocab_size)`; it runs from `__init__` when `vocab_size` is given, else
    from the build hook with the data module's `vocab` (the size is then saved in checkpoints)."""

    vocab_size: int | None = None

    def _build_network(self, vocab_size: int) -> None:
        check_range("vocab_size", vocab_size, ">= 2")
        self.build_network(vocab_size)
        self.vocab_size = vocab_size
        self.hparams["vocab_size"] = vocab_size  # saved in checkpoints: `load` rebuilds the model

    def build(self, datamodule) -> None:
        vocab = getattr(datamodule, "vocab", None)
        if vocab is not None:
            if self.vocab_size is None:
                self._build_network(len(vocab))
            elif self.vocab_size != len(vocab):
                raise ConfigError(f"model.init_args.vocab_size is {self.vocab_size} but the data has a "
                                  f"vocabulary of {len(vocab)}; set it to {len(vocab)} or leave it out.")
        elif self.vocab_size is None:
            raise ConfigError(f"{type(self).__name__} needs model.init_args.vocab_size, or a data module "
                              "with a vocabulary to take it from.")


def _prefixes(names: Iterable[str]) -> list[str]:
    """The distinct module paths above a model's parameters (what an `lr_mult` key can name)."""
    return sorted({".".join(n.split(".")[:2]) for n in names})


class Classifier(D2LModule):
    """Every image/text classifier: cross-entropy loss, accuracy per stage, predicted labels.
    `forward` returns logits (scores before softmax)."""

    monitor = "val/acc"
    monitor_mode = "max"

    def __init__(self, num_classes: int = 10, optimizer: OptimizerCallable | None = None,
                 scheduler: LRSchedulerCallable | None = None, **kwargs):
        super().__init__(optimizer=optimizer, scheduler=scheduler, **kwargs)  # kwargs: init_from ...
        check_range("num_classes", num_classes, ">= 2")
        self.num_classes = num_classes

    def check_data(self, datamodule: Any) -> None:
        labels = getattr(datamodule, "labels", None)
        if isinstance(labels, (list, tuple)) and len(labels) != self.num_classes:
            raise ConfigError(f"{type(self).__name__} has {self.num_classes} outputs (num_classes) but "
                              f"{type(datamodule).__name__} has {len(labels)} classes; set "
                              f"--model.init_args.num_classes {len(labels)}.")

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(y_hat, y)

    def update_metrics(self, y_hat: Tensor, y: Tensor, stage: str, weight: Tensor | int) -> None:
        self.log_mean(f"{stage}/acc", accuracy(y_hat, y), weight)

    def predict_outputs(self, outputs: Tensor, target: Tensor | None) -> dict[str, Tensor]:
        prob, pred = F.softmax(outputs, dim=1).max(dim=1)
        out = {"pred": pred, "prob": prob}
        if target is not None:
            out["target"] = target
        return out


class Regressor(D2LModule):
    """Regression models: mean squared error by default (`nn.MSELoss`, as the book's concise code)."""

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(y_hat, y.reshape(y_hat.shape))


def load(ckpt_path, map_location: str | torch.device = "cpu") -> "D2LModule":
    """Rebuilds the model of a checkpoint written by the CLI (its class and init arguments are
    saved in the checkpoint) and loads its weights, in eval mode. `D2LModule.load_from_checkpoint`
    cannot: it would build the base class, not the saved subclass."""
    from pytorch_lightning.cli import instantiate_module

    ckpt = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    hparams = dict(ckpt.get("hyper_parameters") or {})
    hparams.pop("_instantiator", None)
    if "_class_path" not in hparams:
        raise ValueError(f"{ckpt_path} was not written by a d2l-lightning CLI run (no class path)")
    model = instantiate_module(D2LModule, hparams)
    model.load_state_dict(align_keys(ckpt["state_dict"], model.state_dict()))  # `module.` keys too
    return model.eval()
