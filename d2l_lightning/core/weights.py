"""Loading weights only (the model option `init_from`), and state-dict keys made to match.

`init_from` takes the weights of any run's checkpoint (`.ckpt`, its `state_dict`) or of a plain
state dict (`torch.save(model.state_dict(), path)`) and loads them into a freshly built model, for
fine-tuning and transfer: unlike `--ckpt_path`, nothing else (optimizer, epoch, RNG) is restored.

Keys are compared without the wrappers' prefixes: `module.` (book 8.4: `nn.DataParallel` and DDP
save their model under `module`) and `_orig_mod.` (a `torch.compile`d module), so a model saved
from a wrapper loads into a plain one and the reverse (`align_keys`). A state dict of the bare
network (keys without our `net.` attribute, say) is matched by the prefix that fits most keys.

`strict=False` (the default of `init_strict`) loads every tensor whose name and shape match and
keeps the model's own initialisation for the rest, printing which: fine-tuning replaces the head
(another number of classes), so its weights are missing or mis-shaped in the file. `strict=True`
refuses any difference. `init_skip` names key prefixes never loaded: a new head of the same shape
as the old one. A file sharing no tensor at all with the model is always an error.
"""

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from d2l_lightning.errors import CheckpointError

#: prefixes that wrappers put before every key (DataParallel/DDP, torch.compile)
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def canonical_key(key: str) -> str:
    """A state-dict key without the wrappers' path components (`module.`, `_orig_mod.`)."""
    parts = [p for p in key.split(".") if p not in ("module", "_orig_mod")]
    return ".".join(parts)


def strip_prefixes(state_dict: dict[str, Any]) -> dict[str, Any]:
    """The state dict with every `module.` / `_orig_mod.` path component removed from its keys."""
    return {canonical_key(k): v for k, v in state_dict.items()}


def align_keys(state_dict: dict[str, Any], expected: dict[str, Any] | list[str]) -> dict[str, Any]:
    """`state_dict` renamed to the keys of `expected` (a model's state dict or its keys) wherever
    the two agree up to wrapper prefixes: a DataParallel/DDP state dict into a plain model, a
    plain one into a wrapped model. Keys without a counterpart keep their own name."""
    by_canonical = {canonical_key(k): k for k in expected}
    return {by_canonical.get(canonical_key(k), k): v for k, v in state_dict.items()}


def load_file(path: str | Path, option: str, what: str = "a readable checkpoint") -> Any:
    """A checkpoint or state-dict file loaded with `weights_only=True` (tensors and plain values
    only: no code in it runs). A missing, empty (0-byte) or unreadable file is a `CheckpointError`
    naming `option` (`--ckpt_path`, `init_from`)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"{option} {path}: no such file. Give a run's checkpoint (<run directory>/checkpoints/last.ckpt "
            "or best-*.ckpt)" + (" or a file written by torch.save(model.state_dict(), path)."
                                 if option == "init_from" else "."))
    if path.stat().st_size == 0:
        raise CheckpointError(f"{option} {path} is an empty file (0 bytes): its write never finished "
                              "(a full disk or a killed process). Use another checkpoint of the run, e.g. "
                              "checkpoints/best-*.ckpt or an earlier copy.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or holding arbitrary objects
        first_line = (str(e).splitlines() or [""])[0][:200]
        raise CheckpointError(f"{option} {path} is not {what} ({type(e).__name__}: {first_line}). It may "
                              "be truncated or not written by d2l-lightning; nothing in it was run.") from None


def read_weights(path: str | Path, option: str = "init_from") -> dict[str, Tensor]:
    """The tensors of a Lightning checkpoint (its `state_dict`) or of a plain state dict file."""
    state = load_file(path, option, what="a file that can be read as weights")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not any(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{option} {path} holds no tensors: it is neither a checkpoint with a "
                              "state_dict nor a state dict.")
    return {k: v for k, v in state.items() if isinstance(v, Tensor)}


def _best_prefix(got: dict[str, Tensor], expected: dict[str, Tensor]) -> dict[str, Tensor]:
    """`got` renamed by the prefix (e.g. `net.`) that makes most of its keys those of `expected`,
    for a state dict of the bare network; unchanged when no prefix helps."""
    candidates = {e[: len(e) - len(g)] for g in got for e in expected if e.endswith("." + g)}
    best, best_hits = "", len(set(got) & set(expected))
    for prefix in candidates:
        hits = sum(prefix + k in expected for k in got)
        if hits > best_hits:
            best, best_hits = prefix, hits
    return {best + k: v for k, v in got.items()}


def _skipped(key: str, skip: list[str]) -> bool:
    return any(key == s or key.startswith(s.rstrip(".") + ".") for s in skip)


def matching_weights(state_dict: dict[str, Tensor], model: nn.Module,
                     skip: list[str] | None = None) -> tuple[dict, list[str], list[str]]:
    """(the tensors of `state_dict` that fit `model` by name and shape, renamed to its keys, but
    none under the key prefixes `skip`; the model's keys left out; the file's keys not used)."""
    expected = model.state_dict()
    got = _best_prefix(align_keys(state_dict, expected), expected)
    fit = {k: v for k, v in got.items() if k in expected and tuple(v.shape) == tuple(expected[k].shape)
           and not _skipped(k, skip or [])}
    return fit, [k for k in expected if k not in fit], [k for k in got if k not in fit]


def _some(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def load_initial_weights(model: nn.Module, path: str | Path, strict: bool = False,
                         skip: list[str] | None = None) -> list[str]:
    """Loads the weights of `path` (checkpoint or state dict) into `model` (already built: lazy
    layers sized) and returns the model's keys that kept their own initialisation. See the module
    docstring for what `strict` allows; keys under the prefixes `skip` (a new head) are never
    loaded."""
    skip = list(skip or [])
    fit, left_out, unused = matching_weights(read_weights(path), model, skip)
    if strict:  # skipped keys are asked for, not differences
        left_out = [k for k in left_out if not _skipped(k, skip)]
        unused = [k for k in unused if not _skipped(k, skip)]
    name = type(model).__name__
    if not fit:
        raise CheckpointError(
            f"init_from {path}: none of its {len(unused)} tensors fits {name} (no name and shape in common, "
            f"e.g. it has {_some(unused, 3)}; the model has {_some(list(model.state_dict()), 3)}). It holds "
            "the weights of another network; pass a checkpoint of a run of this model.")
    if strict and (left_out or unused):
        besides = f", and it has {_some(unused)} besides" if unused else ""
        raise CheckpointError(
            f"init_from {path} does not match {name} exactly (init_strict is true): the model's "
            f"{_some(left_out)} are not in it with the same shape{besides}. Set model.init_args.init_strict "
            "false to load what fits (fine-tuning with a new head).")
    model.load_state_dict(fit, strict=False)
    left_out = [k for k in model.state_dict() if k not in fit]
    if left_out:
        print(f"init_from: loaded {len(fit)} tensors from {path}; kept {name}'s own initialisation for "
              f"{_some(left_out)} (not in the file with the same shape)", flush=True)
    return left_out

