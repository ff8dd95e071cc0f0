"""The one training loop every method shares.

A *method* (SupCon, SimCLR, cross-entropy, CPC, Siamese, MoCo, ...) is an ``nn.Module`` whose
``forward(model, inputs, labels)`` turns one batch into a :class:`StepOutput`; everything else —
epochs, learning-rate schedule, mixed precision, the NaN guard, checkpoints and resume, progress
bars, TensorBoard and ``metrics.jsonl``, devices and DDP — lives here, once.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from contrastlab.data.splits import LabeledTensors
from contrastlab.methods.contract import TrainingDivergedError, unwrap_model
from contrastlab.training import distributed
from contrastlab.training.checkpoint import load_checkpoint, save_checkpoint
from contrastlab.training.config import TrainConfig, save_config
from contrastlab.training.devices import autocast_context, resolve_device
from contrastlab.training.meters import AverageMeter
from contrastlab.training.optimizer import build_optimizer
from contrastlab.training.rng import capture_rng_state, restore_rank_rng_state, seed_everything

LAST_CHECKPOINT = "last.pth"


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    run_dir: Path
    last_checkpoint: Path | None


def epoch_batches(
    n_samples: int, batch_size: int, seed: int, epoch: int, drop_last: bool = True
) -> Iterator[torch.Tensor]:
    """Index batches of one epoch for this process.

    The permutation depends only on (seed, epoch), so a resumed run sees the same order. Under
    DDP each global batch of ``batch_size * world_size`` indices is split into contiguous per-rank
    slices (rank r takes the r-th), so the gathered global batch equals what one process with
    the full batch would see.
    """
    world, rank = distributed.world_size(), distributed.rank()
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n_samples, generator=generator)
    global_batch = batch_size * world
    n_full = n_samples // global_batch
    if n_full == 0:  # smaller data than one batch: one batch of everything that divides evenly
        per_rank = n_samples // world
        if per_rank == 0:
            raise ValueError(f"{n_samples} training samples cannot be split over {world} processes")
        yield order[rank * per_rank : (rank + 1) * per_rank]
        return
    stop = n_full * global_batch if drop_last else n_samples
    for start in range(0, stop, global_batch):
        chunk = order[start : start + global_batch]
        per_rank = len(chunk) // world
        yield chunk[rank * per_rank : (rank + 1) * per_rank]


def count_batches(n_samples: int, batch_size: int, drop_last: bool = True) -> int:
    global_batch = batch_size * distributed.world_size()
    n_full = n_samples // global_batch
    if n_full == 0:
        return 1
    return n_full if drop_last else math.ceil(n_samples / global_batch)


def _prepare_model(
    model: nn.Module, method: nn.Module, config: TrainConfig, device: torch.device
) -> nn.Module:
    """Under DDP: SyncBN (``--syncBN``, also in the method, e.g. a MoCo key encoder), the method's
    state copied from rank 0, and the model wrapped in DDP. Without DDP the model itself."""
    model.to(device)
    if not distributed.is_distributed():
        return model
    if config.syncBN:
        model = distributed.convert_sync_batchnorm(model)
        distributed.convert_sync_batchnorm(method)
    distributed.broadcast_state(method)
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


class _RunLogger:
    """metrics.jsonl and TensorBoard scalars, written by the main process only."""

    def __init__(self, run_dir: Path, history: list[dict[str, Any]], enabled: bool) -> None:
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl"
        self.writer = None
        if not enabled:
            return
        # Rewrite the file from the checkpoint's history: epochs after it (from a run that went
        # on past its last checkpoint) are dropped, so a resumed run has one line per epoch.
        self.path.write_text("".join(json.dumps(record) + "\n" for record in history))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        except ImportError:  # tensorboard is a dependency; tolerate a broken install
            self.writer = None

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _resumable_checkpoint(config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """``config.resume`` loaded, or ValueError when it cannot continue this run: optimizer state,
    epoch or RNG state missing, or another ``--optimizer`` (its state would not fit)."""
    checkpoint = load_checkpoint(config.resume, map_location=device)
    missing = [key for key in ("optimizer", "epoch", "rng") if key not in checkpoint]
    if missing:
        raise ValueError(f"{config.resume} cannot be resumed: it lacks {missing}")
    saved_optimizer = (checkpoint.get("config") or {}).get("optimizer", "sgd")
    if saved_optimizer != config.optimizer:
        raise ValueError(
            f"{config.resume} was trained with --optimizer {saved_optimizer}, this run asks for "
            f"--optimizer {config.optimizer}: resume with the same optimizer"
        )
    return checkpoint


def fit(
    model: nn.Module,
    method: nn.Module,
    train: LabeledTensors,
    config: TrainConfig,
    run_dir: str | Path,
    evaluate: Callable[[nn.Module, int], dict[str, float]] | None = None,
    checkpoint_extra: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` with ``method`` on ``train`` for ``config.epochs`` epochs.

    Args:
        model: the network; the method calls it (possibly wrapped in DDP).
        method: ``forward(model, inputs, labels) -> StepOutput``; its own parameters (e.g. CPC's
            predictors) are optimised too, and its state (e.g. a MoCo queue) is checkpointed.
        train: in-memory training data; batches are moved to the device as they are used.
        config: loop options (``TrainConfig``); ``config.resume`` continues from a checkpoint.
        run_dir: where ``config.yaml``, ``metrics.jsonl``, ``tensorboard/`` and checkpoints go.
        evaluate: optional ``evaluate(model, epoch) -> {name: value}`` called after each epoch
            (e.g. a kNN monitor) on the main process; its figures are logged with the epoch.
        checkpoint_extra: plain data stored in every checkpoint (how to rebuild the model,
            class names, normalisation, ...).

    Raises:
        TrainingDivergedError: the loss became NaN or inf (earlier checkpoints are kept).
    """
    config.validate()
    distributed.init_from_environment()  # no-op unless under torchrun without a group yet
    run_dir = Path(run_dir)
    main_process = distributed.is_main_process()
    device = resolve_device(config.device)
    config.apply_threads()
    seed_everything(config.seed + distributed.rank())
    # Checked before config.yaml is written: a refused resume leaves the run directory as it was.
    checkpoint = _resumable_checkpoint(config, device) if config.resume else None
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")

    method.to(device)
    model.to(device)
    parameters = [p for module in (model, method) for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(
        parameters, config.optimizer, config.learning_rate, config.weight_decay, config.momentum
    )
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "16-mixed")
    history: list[dict[str, Any]] = []
    last_checkpoint_on_resume = None
    start_epoch = 1
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        method.load_state_dict(checkpoint.get("method", {}))
        optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scaler"):
            scaler.load_state_dict(checkpoint["scaler"])
        history = list(checkpoint.get("history", []))
        last_checkpoint_on_resume: Path | None = Path(config.resume)
        start_epoch = int(checkpoint["epoch"]) + 1
        rank, world = distributed.rank(), distributed.world_size()
        fallback_seed = config.seed + 7919 * start_epoch
        if not restore_rank_rng_state(checkpoint, rank, world, fallback_seed) and rank == 0:
            warnings.warn(
                f"{config.resume} holds no RNG state for {world} processes (saved with another "
                "world size): ranks other than 0 continue with fresh seeds, so the resumed run "
                "will not repeat the random draws of an uninterrupted one",
                stacklevel=2,
            )

    wrapped = _prepare_model(model, method, config, device)
    schedule = config.schedule()
    n_batches = count_batches(len(train), config.batch_size)
    logger = _RunLogger(run_dir, history, enabled=main_process)
    last_checkpoint = last_checkpoint_on_resume

    def checkpoint_state(epoch: int, rng_per_rank: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "config": config.to_dict(),
            "model": unwrap_model(wrapped).state_dict(),
            "method": method.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "epoch": epoch,
            "rng": rng_per_rank[0],
            **({"rng_per_rank": rng_per_rank} if len(rng_per_rank) > 1 else {}),
            "history": history,
            **(checkpoint_extra or {}),
        }

    try:
        for epoch in range(start_epoch, config.epochs + 1):
            wrapped.train()
            method.train()
            meters: dict[str, AverageMeter] = {"loss": AverageMeter("loss")}
            started = time.perf_counter()
            batches = epoch_batches(len(train), config.batch_size, config.seed, epoch)
            bar = tqdm(
                batches,
                total=n_batches,
                desc=f"epoch {epoch}/{config.epochs}",
                disable=not (config.progress and main_process),
                leave=False,
                dynamic_ncols=True,
            )
            for batch_index, indices in enumerate(bar):
                lr = schedule.apply(optimizer, epoch, batch_index, n_batches)
                inputs = train.inputs[indices].to(device, non_blocking=True)
                labels = train.labels[indices].to(device, non_blocking=True)
                with autocast_context(device, config.precision):
                    output = method(wrapped, inputs, labels)
                # Averaged over ranks: the logged loss is the global batch's, and every rank
                # takes the same branch of the NaN guard below.
                loss_value, *metric_values = distributed.mean_across_ranks(
                    [output.loss, *output.metrics.values()]
                )
                if not math.isfinite(loss_value):
                    kept = (
                        f"; the last good checkpoint is {last_checkpoint}"
                        if last_checkpoint
                        else ""
                    )
                    raise TrainingDivergedError(
                        f"loss became {loss_value} at epoch {epoch}, step {batch_index + 1} "
                        f"(lr {lr:.4g}): lower --learning_rate, raise --temp or use --precision 32"
                        f"{kept}"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(output.loss).backward()
                scaler.step(optimizer)
                scaler.update()
                meters["loss"].update(loss_value, output.batch_size)
                for name, value in zip(output.metrics, metric_values, strict=True):
                    meters.setdefault(name, AverageMeter(name)).update(value, output.batch_size)
                if (batch_index + 1) % config.print_freq == 0 or batch_index + 1 == n_batches:
                    bar.set_postfix(loss=f"{meters['loss'].avg:.4f}", lr=f"{lr:.3g}")
            bar.close()
            record: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
            record.update({name: meter.avg for name, meter in meters.items()})
            record["epoch_seconds"] = time.perf_counter() - started
            if evaluate is not None and main_process:
                record.update(evaluate(unwrap_model(wrapped), epoch))
            history.append(record)
            logger.log(record)
            rng_per_rank = distributed.gather_objects(capture_rng_state())  # all ranks
            if main_process:
                state = checkpoint_state(epoch, rng_per_rank)
                if epoch % config.save_freq == 0:
                    save_checkpoint(run_dir / f"ckpt_epoch_{epoch}.pth", state)
                last_checkpoint = save_checkpoint(run_dir / LAST_CHECKPOINT, state)
            distributed.barrier()
    finally:
        logger.close()
    return FitResult(history=history, run_dir=run_dir, last_checkpoint=last_checkpoint)
