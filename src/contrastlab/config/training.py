"""Options of the shared training loop, named as in SupContrast's scripts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from contrastlab.config.choices import OPTIMIZERS, PRECISIONS
from contrastlab.config.options import Config, option

MAX_BATCH = 1 << 20
MAX_SEED = 2**32 - 1


def default_decay_epochs(epochs: int) -> list[int]:
    """SupContrast's step milestones when none are given: 70, 80 and 90% of the epochs."""
    return [int(epochs * fraction) for fraction in (0.7, 0.8, 0.9)]


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass
class RunOptions(Config):
    """Where a run writes and how it treats an existing run directory (every command)."""

    out: str | None = option(None, "run directory (default runs/<name>)")
    overwrite: bool = option(
        False, "a non-empty --out holding another run is cleared first (else refused)"
    )
    seed: int = option(
        0,
        "random seed of the data split, initialisation, batch order and augmentations",
        low=0,
        high=MAX_SEED,
    )
    device: str = option(
        "auto",
        "auto | cpu | cuda | cuda:N; auto takes this process's GPU when there is one "
        "(LOCAL_RANK under torchrun), else the CPU",
    )
    threads: int = option(
        0, "PyTorch intra-op CPU threads (torch.set_num_threads); 0 keeps PyTorch's", low=0,
        high=1024,
    )  # fmt: skip
    progress: bool = option(
        True,
        "progress bars on a terminal (a line per epoch when stderr is not a terminal)",
    )

    def check(self) -> None:
        super().check()
        if not _DEVICE.fullmatch(self.device):
            raise ValueError(f"--device must be auto, cpu, cuda or cuda:N; got {self.device!r}")


@dataclass
class TrainConfig(RunOptions):
    """Options of the shared training loop (:func:`contrastlab.training.loop.fit`)."""

    epochs: int = option(100, "training epochs", low=1, high=100_000)
    batch_size: int = option(
        256,
        "training batch per process (the global batch under torchrun is N times this); the last "
        "partial batch is dropped, a set smaller than one batch is one batch",
        low=1,
        high=MAX_BATCH,
    )
    learning_rate: float = option(
        0.05, "initial learning rate of the optimizer", low=0.0, open_low=True, high=1000.0
    )
    lr_decay_epochs: list[int] = option(
        help="comma-separated epochs after which the step schedule multiplies the learning rate "
        "by --lr_decay_rate (ignored with --cosine); default: 70, 80 and 90% of --epochs",
        factory=list,
        low=0,
        high=100_000,
    )
    lr_decay_rate: float = option(
        0.1,
        "decay factor in (0, 1] of each step; with --cosine the last epoch's rate is "
        "learning_rate * lr_decay_rate^3",
        low=0.0,
        open_low=True,
        high=1.0,
    )
    weight_decay: float = option(
        1e-4,
        "weight decay: L2 added to the gradient with sgd, decoupled with adamw",
        low=0.0,
        high=1.0,
        open_high=True,
    )
    momentum: float = option(
        0.9, "SGD momentum; adamw ignores it", low=0.0, high=1.0, open_high=True
    )
    optimizer: str = option(
        "sgd",
        "sgd (SupContrast's: momentum, L2 weight decay) or adamw (TS2Vec's: Adam with decoupled "
        "weight decay); the schedule sets the learning rate of either",
        choices=OPTIMIZERS,
    )
    cosine: bool = option(
        False,
        "cosine learning-rate decay to learning_rate * lr_decay_rate^3 instead of the step "
        "decay at --lr_decay_epochs",
    )
    warm: bool = option(
        False,
        "linear learning-rate warm-up from --warmup_from over the first --warm_epochs epochs",
    )
    warm_epochs: int = option(
        10, "epochs of the --warm warm-up (a shorter run warms up all along)", low=1, high=100_000
    )
    warmup_from: float = option(0.01, "learning rate the --warm warm-up starts from", low=0.0,
                                high=1000.0)  # fmt: skip
    save_freq: int = option(
        50, "save a checkpoint (ckpt_epoch_N.pth) every N epochs (last.pth every epoch)", low=1
    )
    print_freq: int = option(
        10,
        "read the loss from the device every N steps (progress bar, divergence check)",
        low=1,
    )
    precision: str = option(
        "auto",
        "auto (bf16-mixed on CUDA, 32 elsewhere) | 32 (float32) | 16-mixed (float16 autocast "
        "with gradient scaling) | bf16-mixed (bfloat16 autocast)",
        choices=PRECISIONS,
    )
    compile: bool = option(
        False,
        "torch.compile the network (the SupCon / NT-Xent / InfoNCE core is compiled on CUDA in "
        "any case); falls back to eager with a warning where it cannot",
    )
    syncBN: bool = option(False, "synchronised batch norm under torchrun")
    resume: str | None = option(
        None, "checkpoint (e.g. last.pth) to continue training from, with its optimizer and RNG"
    )
    force_resume: bool = option(
        False,
        "--resume even where options that change the run's meaning differ from the "
        "checkpoint's (they are listed in a warning)",
    )

    def decay_epochs(self) -> list[int]:
        """``--lr_decay_epochs``, or SupContrast's 70 / 80 / 90% of the epochs."""
        return list(self.lr_decay_epochs) or default_decay_epochs(self.epochs)
