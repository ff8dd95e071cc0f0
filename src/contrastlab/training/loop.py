"""The one training loop every method shares.

A *method* (SupCon, SimCLR, cross-entropy, CPC, Siamese, MoCo, TS2Vec; see
:mod:`contrastlab.methods.contract`) turns one batch into a loss; everything else lives here,
once: epochs, the learning-rate schedule, mixed precision, the divergence check, checkpoints and
resume, progress, TensorBoard and ``metrics.jsonl``, devices and DDP.

The loop does not wait for the device: the loss and metrics are summed on the device and read
every ``print_freq`` steps (:class:`~contrastlab.training.step_meters.DeviceMeters`), where a
non-finite loss stops the run with :class:`TrainingDivergedError` (checkpoints of earlier epochs
are kept); batches come from the device or from pinned memory without blocking
(:mod:`contrastlab.training.batches`). On CUDA the default precision is bf16 autocast and
convolutional networks run in ``channels_last``; ``--compile`` compiles the network.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from contrastlab._checks import value_checks
from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods.contract import TrainingDivergedError, unwrap_model
from contrastlab.training import distributed
from contrastlab.training.batches import BatchSource, InMemoryBatches, count_batches, epoch_batches
from contrastlab.training.checkpoint import save_checkpoint
from contrastlab.training.compile import compile_with_fallback
from contrastlab.training.devices import autocast_context, resolve_device, resolve_precision
from contrastlab.training.optimizer import build_optimizer
from contrastlab.training.provenance import as_yaml_comments, provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.rng import capture_rng_state, restore_rank_rng_state, seed_everything
from contrastlab.training.run_directory import atomic_write_text
from contrastlab.training.schedule import LRSchedule
from contrastlab.training.step_meters import DeviceMeters

__all__ = [
    "BEST_CHECKPOINT", "LAST_CHECKPOINT", "FitResult", "best_epoch", "count_batches",
    "epoch_batches", "fit",
]  # fmt: skip

LAST_CHECKPOINT = "last.pth"
BEST_CHECKPOINT = "best.pth"
DIVERGENCE_ADVICE = "lower --learning_rate, raise --temp or use --precision 32"


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    run_dir: Path
    last_checkpoint: Path | None


@dataclass
class _State:
    """What a checkpoint restores: optimizer, gradient scaler, history and the next epoch."""

    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 1
    last_checkpoint: Path | None = None


def fit(
    model: nn.Module,
    method: nn.Module,
    train: LabeledTensors | BatchSource,
    config: TrainConfig,
    run_dir: str | Path,
    evaluate: Callable[[nn.Module, int], dict[str, float]] | None = None,
    checkpoint_extra: dict[str, Any] | None = None,
    resume_checkpoint: dict[str, Any] | None = None,
    best_metric: str | None = None,
    evaluate_on_every_rank: bool = False,
) -> FitResult:
    """Train ``model`` with ``method`` on ``train`` for ``config.epochs`` epochs.

    Args:
        model: the network; the method calls it (possibly wrapped in DDP or compiled).
        method: ``forward(model, inputs, labels) -> StepOutput``; its own parameters (e.g. CPC's
            predictors) are optimised too, and its state (e.g. a MoCo queue) is checkpointed.
        train: in-memory training data or a :class:`~contrastlab.training.batches.BatchSource`.
        config: loop options (validated when built); ``config.resume`` continues a checkpoint.
        run_dir: where ``config.yaml``, ``metrics.jsonl``, ``tensorboard/`` and checkpoints go
            (a folder the command has claimed, :mod:`contrastlab.training.run_directory`).
        evaluate: optional ``evaluate(model, epoch) -> {name: value}`` called after each epoch
            on the main process (on every process with ``evaluate_on_every_rank``: an
            evaluation that shares its work between the processes, with collectives, and returns
            the same figures on each); its figures are logged with the epoch.
        checkpoint_extra: plain data stored in every checkpoint (how to rebuild the model, ...).
        resume_checkpoint: ``config.resume`` already loaded and checked by the command (else
            loaded here).
        best_metric: a figure of ``evaluate`` (e.g. ``"val_top1"``, larger is better): the
            weights of the epoch that maximises it are kept in ``best.pth`` (the earlier epoch
            on a tie; a resumed run knows the best of the epochs before it from the history).

    Raises:
        TrainingDivergedError: the loss became NaN or inf (earlier checkpoints are kept).
    """
    distributed.init_from_environment()  # no-op unless under torchrun without a group yet
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed + distributed.rank())
    if config.resume and resume_checkpoint is None:
        resume_checkpoint = load_resume_checkpoint(config, device)
    state = _build_state(model, method, config, device, precision)
    if resume_checkpoint is not None:
        _restore(state, resume_checkpoint, model, method, config)
    batches = (
        InMemoryBatches(train, config.batch_size, config.seed, device)
        if isinstance(train, LabeledTensors)
        else train
    )
    network = _prepare_network(model, method, config, device)
    run_dir = Path(run_dir)
    logger = _RunLogger(run_dir, state.history, config, device)  # writes after every check
    try:
        for epoch in range(state.start_epoch, config.epochs + 1):
            record = _train_epoch(network, method, batches, state, config, epoch, precision, device)
            if evaluate is not None and (evaluate_on_every_rank or distributed.is_main_process()):
                record.update(evaluate(unwrap_model(network), epoch))
            state.history.append(record)
            logger.log(record)
            _save_checkpoints(run_dir, epoch, model, method, state, config, checkpoint_extra)
            if best_metric is not None and distributed.is_main_process():
                _keep_best(run_dir, epoch, model, state.history, best_metric, checkpoint_extra)
            distributed.barrier()
    finally:
        logger.close()
    return FitResult(state.history, run_dir, state.last_checkpoint)


def _build_state(
    model: nn.Module, method: nn.Module, config: TrainConfig, device: torch.device, precision: str
) -> _State:
    method.to(device)
    model.to(device)
    parameters = [p for module in (model, method) for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(
        parameters, config.optimizer, config.learning_rate, config.weight_decay, config.momentum
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
    return _State(optimizer, scaler)


def _restore(
    state: _State, checkpoint: dict[str, Any], model: nn.Module, method: nn.Module, config: Any
) -> None:
    """Load a checkpoint's weights, optimizer, scaler, history and RNG state into this run."""
    try:
        model.load_state_dict(checkpoint["model"])
        method.load_state_dict(checkpoint.get("method", {}))
        state.optimizer.load_state_dict(checkpoint["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise ValueError(
            f"{config.resume} does not fit this network or method: {str(error).splitlines()[0]}"
        ) from error
    if checkpoint.get("scaler"):
        state.scaler.load_state_dict(checkpoint["scaler"])
    state.history = list(checkpoint.get("history", []))
    state.last_checkpoint = Path(config.resume)
    state.start_epoch = int(checkpoint["epoch"]) + 1
    rank, world = distributed.rank(), distributed.world_size()
    fallback_seed = config.seed + 7919 * state.start_epoch
    if not restore_rank_rng_state(checkpoint, rank, world, fallback_seed) and rank == 0:
        warnings.warn(
            f"{config.resume} holds no RNG state for {world} processes (saved with another world "
            "size): ranks other than 0 continue with fresh seeds, so the resumed run will not "
            "repeat the random draws of an uninterrupted one",
            stacklevel=3,
        )


def _prepare_network(
    model: nn.Module, method: nn.Module, config: TrainConfig, device: torch.device
) -> nn.Module:
    """channels_last for convolutional networks on CUDA (and for the method's own copies of them,
    e.g. MoCo's key encoder, so that its momentum update pairs tensors of one layout); under DDP
    SyncBN (``--syncBN``, also in the method), the method's state copied from rank 0 and the DDP
    wrapper; ``--compile``."""
    if device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
        method.to(memory_format=torch.channels_last)  # 4-D parameters and buffers only
    network = model
    if distributed.is_distributed():
        if config.syncBN:
            network = distributed.convert_sync_batchnorm(model)
            distributed.convert_sync_batchnorm(method)
        distributed.broadcast_state(method)
        device_ids = [device.index] if device.type == "cuda" else None
        network = nn.parallel.DistributedDataParallel(network, device_ids=device_ids)
    return compile_with_fallback(network) if config.compile else network


def _train_epoch(
    network: nn.Module,
    method: nn.Module,
    batches: BatchSource,
    state: _State,
    config: TrainConfig,
    epoch: int,
    precision: str,
    device: torch.device,
) -> dict[str, Any]:
    """One epoch; returns its log record. Reads the device every ``print_freq`` steps."""
    network.train()
    method.train()
    schedule = LRSchedule.from_config(config)
    n_batches = len(batches)
    meters = DeviceMeters()
    started = time.perf_counter()
    bar = tqdm(
        total=n_batches,
        desc=f"epoch {epoch}/{config.epochs}",
        # None: tqdm draws only on a terminal; logs get the loop's line per epoch instead.
        disable=None if config.progress and distributed.is_main_process() else True,
        leave=False,
        dynamic_ncols=True,
    )
    lr = state.optimizer.param_groups[0]["lr"]
    for step, (inputs, labels) in enumerate(batches.epoch(epoch)):
        lr = schedule.apply(state.optimizer, epoch, step, n_batches)
        # Value checks (finiteness) would make the host wait every step; the data was checked
        # when loaded, and a NaN loss is caught at the next read.
        with autocast_context(device, precision), value_checks(False):
            output = method(network, inputs, labels)
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(output.loss).backward()
        state.scaler.step(state.optimizer)
        state.scaler.update()
        meters.update({"loss": output.loss, **output.metrics}, output.batch_size)
        bar.update(1)
        if (step + 1) % config.print_freq == 0 and step + 1 < n_batches:
            means = _read_and_guard(meters, state, method, epoch, step, lr)
            bar.set_postfix(loss=f"{means['loss']:.4f}", lr=f"{lr:.3g}")
    bar.close()
    means = _read_and_guard(meters, state, method, epoch, n_batches - 1, lr)
    record: dict[str, Any] = {"epoch": epoch, "lr": lr, **means}
    record["epoch_seconds"] = time.perf_counter() - started
    return record


def _read_and_guard(
    meters: DeviceMeters, state: _State, method: nn.Module, epoch: int, step: int, lr: float
) -> dict[str, float]:
    """Read the meters; raise :class:`TrainingDivergedError` if a loss was not finite."""
    means, nonfinite = meters.read()
    if nonfinite:
        kept = (
            f"; the last good checkpoint is {state.last_checkpoint}"
            if state.last_checkpoint
            else ""
        )
        advice = getattr(method, "divergence_advice", DIVERGENCE_ADVICE)
        raise TrainingDivergedError(
            f"the loss became NaN or infinite in epoch {epoch} (by step {step + 1}, lr {lr:.4g}): "
            f"{advice}{kept}"
        )
    return means


def _save_checkpoints(
    run_dir: Path,
    epoch: int,
    model: nn.Module,
    method: nn.Module,
    state: _State,
    config: TrainConfig,
    extra: dict[str, Any] | None,
) -> None:
    """``last.pth`` every epoch and ``ckpt_epoch_N.pth`` every ``save_freq`` (main process)."""
    rng_per_rank = distributed.gather_objects(capture_rng_state())  # a collective: all ranks
    if not distributed.is_main_process():
        return
    payload = {
        "config": config.to_dict(),
        "model": unwrap_model(model).state_dict(),
        "method": method.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scaler": state.scaler.state_dict(),
        "epoch": epoch,
        "rng": rng_per_rank[0],
        **({"rng_per_rank": rng_per_rank} if len(rng_per_rank) > 1 else {}),
        "history": state.history,
        **(extra or {}),
    }
    if epoch % config.save_freq == 0:
        save_checkpoint(run_dir / f"ckpt_epoch_{epoch}.pth", payload)
    state.last_checkpoint = save_checkpoint(run_dir / LAST_CHECKPOINT, payload)


def best_epoch(history: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The record of ``history`` with the largest ``metric`` (the earliest on a tie), or None."""
    scored = [record for record in history if record.get(metric) is not None]
    return max(scored, key=lambda record: (record[metric], -record["epoch"]), default=None)


def _keep_best(
    run_dir: Path,
    epoch: int,
    model: nn.Module,
    history: list[dict[str, Any]],
    metric: str,
    extra: dict[str, Any] | None,
) -> None:
    """``best.pth`` holds the weights of the best epoch of ``history`` by ``metric``."""
    best = best_epoch(history, metric)
    if best is not None and best["epoch"] == epoch:
        payload = {"model": unwrap_model(model).state_dict(), "epoch": epoch,
                   metric: best[metric], **(extra or {})}  # fmt: skip
        save_checkpoint(run_dir / BEST_CHECKPOINT, payload)


class _RunLogger:
    """``config.yaml``, ``metrics.jsonl``, TensorBoard scalars and, when stderr is not a terminal,
    one line per epoch; written by the main process only."""

    def __init__(
        self, run_dir: Path, history: list[dict[str, Any]], config: TrainConfig, device: Any
    ) -> None:
        self.enabled = distributed.is_main_process()
        self.path = run_dir / "metrics.jsonl"
        self.lines_written = [json.dumps(record) + "\n" for record in history]
        self.lines = config.progress and not sys.stderr.isatty()
        self.writer = None
        if not self.enabled:
            return
        import yaml

        facts = as_yaml_comments(provenance(device, config.seed))
        atomic_write_text(
            run_dir / "config.yaml", facts + yaml.safe_dump(config.to_dict(), sort_keys=True)
        )
        # From the checkpoint's history: epochs after it (a run that went on past its last
        # checkpoint) are dropped, so a resumed run has one line per epoch.
        atomic_write_text(self.path, "".join(self.lines_written))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        except ImportError:  # tensorboard is a dependency; tolerate a broken install
            self.writer = None

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        # Rewritten whole (a few KB) rather than appended: a crash leaves the file of the last
        # complete epoch, never half a line.
        self.lines_written.append(json.dumps(record) + "\n")
        atomic_write_text(self.path, "".join(self.lines_written))
        if self.lines:
            shown = ", ".join(
                f"{k} {v:.4g}" for k, v in record.items() if k != "epoch" and isinstance(v, float)
            )
            print(f"epoch {record['epoch']}: {shown}", file=sys.stderr, flush=True)
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
