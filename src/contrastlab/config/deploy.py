"""Options of ``contrastlab embed`` and ``contrastlab export``: a trained network put to use.

Both take any contrastlab checkpoint (image: ``pretrain`` / ``ce`` ``last.pth``, SupContrast's
checkpoints; signal: ``bearing``'s ``model.pt``, a signal pretraining ``last.pth``).
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastlab.config.choices import RECORDING_LAYOUTS as LAYOUTS
from contrastlab.config.image import BAD_FILE_POLICIES, FOLDER_LABELS, MAX_IMAGE_SIZE, MAX_WORKERS
from contrastlab.config.options import option
from contrastlab.config.training import MAX_BATCH, RunOptions

BUILT_IN_IMAGE_SETS = ("digits", "cifar10", "cifar100")
SPLITS = ("train", "val", "test")
EMBED_FORMATS = ("npy", "parquet")
EXPORT_FORMATS = ("onnx", "torchscript")
EXPORT_PARTS = ("encoder", "projection", "classifier")


@dataclass
class DeployOptions(RunOptions):
    """The checkpoint every deployment command starts from."""

    ckpt: str = option(
        "",
        "trained network: an image checkpoint (pretrain / ce last.pth, SupContrast's) or a "
        "signal one (bearing's model.pt, a signal pretraining last.pth)",
    )

    def check(self) -> None:
        if not self.ckpt:
            raise ValueError("--ckpt PATH is required (e.g. runs/x/last.pth or model.pt)")
        super().check()


@dataclass
class EmbedConfig(DeployOptions):
    """Options of ``contrastlab embed``."""

    data_folder: str | None = option(
        None,
        "images (<class>/<image>, or any tree with --labels none) for an image checkpoint; "
        "recordings (.npy .csv .wav .mat, <class>/<file> or any tree) for a signal one",
    )
    dataset: str | None = option(
        None,
        "instead of --data_folder, a built-in image set: digits | cifar10 | cifar100 "
        "(CIFAR archives under --cifar_folder)",
        choices=BUILT_IN_IMAGE_SETS,
    )
    split: str = option(
        "test", "--dataset: the split to embed (the split of the set's loader, seed 0)",
        choices=SPLITS,
    )  # fmt: skip
    cifar_folder: str | None = option(None, "--dataset cifar10 / cifar100: the archives' folder")
    labels: str = option(
        "folders",
        "--data_folder: folders (the sub-folder is the class) | none (no labels: -1)",
        choices=FOLDER_LABELS,
    )
    size: int | None = option(
        None, "images: side in pixels (default: the checkpoint's)", low=1, high=MAX_IMAGE_SIZE
    )
    batch_size: int = option(256, "samples per batch through the network", low=1, high=MAX_BATCH)
    workers: int = option(
        2, "images: DataLoader worker processes decoding files (0: the main process)", low=0,
        high=MAX_WORKERS,
    )  # fmt: skip
    on_bad_file: str = option(
        "error",
        "an unreadable image or recording stops with an error naming it (error) or is left out "
        "and listed in summary.json (skip)",
        choices=BAD_FILE_POLICIES,
    )
    projection: bool = option(
        False,
        "also write the projection head's outputs (projections.npy; pretraining checkpoints)",
    )
    format: str = option(
        "npy",
        "npy (embeddings.npy, labels.npy, files.txt) | parquet (embeddings.parquet, one row per "
        "sample; needs pyarrow)",
        choices=EMBED_FORMATS,
    )
    sample_rate_hz: float | None = option(
        None,
        "signals: the recordings' rate in Hz (required for .npy / .csv / .mat; must equal the "
        "model's when it records one)",
        low=0.0,
        open_low=True,
    )
    variable: str | None = option(None, "signals, .mat files: the variable holding the signal")
    layout: str | None = option(
        None,
        "signals, a matrix in .npy (or a .mat --variable): channels_first [C, T] | "
        "channels_last [T, C]",
        choices=LAYOUTS,
    )
    stride: int | None = option(
        None, "signals: samples between window starts (default: one window length)", low=1
    )

    def check(self) -> None:
        super().check()
        signal_only = {"sample_rate_hz": None, "variable": None, "layout": None, "stride": None}
        if self.dataset is not None and any(
            getattr(self, name) != default for name, default in signal_only.items()
        ):
            raise ValueError(
                "--sample_rate_hz, --variable, --layout and --stride apply to recordings "
                "(--data_folder with a signal checkpoint), not to --dataset"
            )
        if (self.data_folder is None) == (self.dataset is None):
            raise ValueError(
                "give the data to embed: --data_folder DIR or --dataset digits|cifar10|cifar100"
            )
        if self.dataset in ("cifar10", "cifar100") and not self.cifar_folder:
            raise ValueError(f"--dataset {self.dataset} needs --cifar_folder (the archives)")


@dataclass
class ExportConfig(DeployOptions):
    """Options of ``contrastlab export`` (the export runs on the CPU: no ``--device``)."""

    device: str = option("cpu", "exports are traced on the CPU", cli=False)
    progress: bool = option(False, "nothing to show: an export takes seconds", cli=False)

    part: str = option(
        "encoder",
        "encoder (input -> features) | projection (encoder + projection head; pretraining "
        "checkpoints) | classifier (input -> class logits; ce checkpoints, bearing model.pt)",
        choices=EXPORT_PARTS,
    )
    formats: list[str] = option(
        help="comma-separated formats to write: onnx (ONNX Runtime; needs "
        "pip install 'contrastlab[export]') and / or torchscript (torch.jit)",
        factory=lambda: list(EXPORT_FORMATS),
        choices=EXPORT_FORMATS,
    )
    batch_size: int = option(
        1, "batch size of the example input (the fixed batch without --dynamic_batch)", low=1,
        high=4096,
    )  # fmt: skip
    dynamic_batch: bool = option(
        False, "the exported files take any batch size (else only --batch_size)"
    )

    def check(self) -> None:
        super().check()
        if not self.formats:
            raise ValueError("--formats needs at least one of onnx, torchscript")
