"""Resuming a run: the checkpoint must be able to continue *this* run, not another one.

A resumed run keeps the meaning of the run it continues: options that change what is trained or
how (method, network, data, batch size, temperature, seed, schedule, ...) must equal the
checkpoint's, and the differences are listed in the error. ``--epochs`` may grow, and options of
the run's mechanics (:data:`MAY_CHANGE_ON_RESUME`: device, threads, progress, output frequency,
evaluation batch size, ...) may change freely. ``--force_resume`` turns the refusal into a
warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from contrastlab.config.training import TrainConfig
from contrastlab.training.checkpoint import load_checkpoint

MAY_CHANGE_ON_RESUME = frozenset(
    {
        "out", "resume", "force_resume", "overwrite", "device", "threads", "progress",
        "print_freq", "save_freq", "compile", "eval_batch_size", "knn_every", "linear",
        "linear_epochs", "linear_learning_rate", "linear_batch_size", "plots", "tsne",
        "download", "data_folder", "data", "workers", "eval_folder", "on_bad_file",
        # what is evaluated after pretraining, not how it trains
        "knn_k", "probe_epochs", "probe_learning_rate", "labels_per_class", "n_draws",
        "finetune", "baseline", "baseline_model", "baseline_input", "finetune_epochs",
        "finetune_steps_per_epoch", "finetune_batch_size", "finetune_learning_rate",
        "ts2vec_pooling",
    }
)  # fmt: skip
_REQUIRED = ("optimizer", "epoch", "rng")


def _warm_up_is_over(options: dict[str, Any], trained: int) -> bool:
    return not options.get("warm") or int(options.get("warm_epochs", 0)) <= trained


def _changed_options(saved: dict[str, Any], current: dict[str, Any], trained: int) -> list[str]:
    """The options that differ and matter for the epochs still to train. The warm-up's options
    do not when neither run warms up after the epochs already trained."""
    ignored = set(MAY_CHANGE_ON_RESUME) | {"epochs", "iters"}  # both may grow (checked above)
    if "folder" in (current.get("dataset"), current.get("source")):
        ignored -= {"data_folder", "data"}  # there the folder is the training set itself
    if _warm_up_is_over(saved, trained) and _warm_up_is_over(current, trained):
        ignored |= {"warm", "warm_epochs", "warmup_from"}
    changes = []
    for name, value in current.items():
        if name in ignored or name not in saved:
            continue
        if saved[name] != value:
            changes.append(f"--{name} {saved[name]!r} -> {value!r}")
    return changes


def load_resume_checkpoint(config: TrainConfig, device: torch.device | str = "cpu") -> dict:
    """``config.resume`` loaded, or ValueError when it cannot continue this run: a missing piece
    of training state, fewer ``--epochs`` than it already trained, or options that change the
    run's meaning (listed; a warning instead with ``--force_resume``)."""
    if not config.resume:
        raise ValueError("no --resume checkpoint given")
    checkpoint = load_checkpoint(config.resume, map_location=device)
    missing = [key for key in _REQUIRED if key not in checkpoint]
    if missing:
        raise ValueError(
            f"{config.resume} cannot be resumed: it lacks {missing} (a model-only checkpoint?)"
        )
    saved = dict(checkpoint.get("config") or {})
    trained = int(checkpoint["epoch"])
    if config.epochs < trained:
        raise ValueError(
            f"{config.resume} has trained {trained} epochs already; --epochs {config.epochs} "
            "would end before it: give --epochs >= that (epochs may only grow on resume)"
        )
    if saved.get("optimizer", "sgd") != config.optimizer:
        raise ValueError(
            f"{config.resume} was trained with --optimizer {saved.get('optimizer', 'sgd')}, this "
            f"run asks for --optimizer {config.optimizer}: its state would not fit; resume with "
            "the same optimizer"
        )
    changes = _changed_options(saved, config.to_dict(), trained)
    if changes:
        listing = "; ".join(changes)
        if not config.force_resume:
            raise ValueError(
                f"{config.resume} was trained with other options ({listing}): resuming would mix "
                "two runs. Use the checkpoint's options, start a new run (--out), or pass "
                "--force_resume to continue anyway"
            )
        warnings.warn(f"--force_resume: continuing with changed options ({listing})", stacklevel=2)
    return checkpoint
