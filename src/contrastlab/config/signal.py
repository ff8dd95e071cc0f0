"""Options of the 1-D signal commands: ``bearing``, ``cpc`` and ``ucr``.

:class:`SignalConfig` holds what the three share: the network (``--input`` front-end and
``--model`` backbone), the pretraining method and its views. ``model='auto'`` picks ``cpc`` /
``ts2vec`` for those methods, ``mlp`` (band energies + MLP) for the spectral inputs and ``wdcnn``
for time-domain ones (``ucr``: ``resnet1d``).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from contrastlab.config.choices import (
    BAD_FILE_POLICIES,
    BEARING_SOURCES,
    CWRU_CHANNELS,
    FOLDER_LABELS,
    HEADS,
    INPUT_REPRESENTATIONS,
    LABEL_SCHEME_NAMES,
    MOTOR_LOADS_HP,
    RATE_MISMATCH_POLICIES,
    RECORDING_LAYOUTS,
    SIGNAL_BACKBONES,
    SIGNAL_METHODS,
    SIGNAL_SOURCES,
    SPECTRAL_INPUTS,
    TIMESTAMP_BACKBONES,
    TS2VEC_POOLINGS,
    UCR_NORMALIZATIONS,
)
from contrastlab.config.options import Config, option
from contrastlab.config.training import MAX_BATCH, TrainConfig

CWRU_DIR_ENV = "CONTRASTLAB_CWRU_DIR"
NO_CROSS_LOAD = -1
AUTO_CHANNELS = "auto"
# --channels auto: both accelerometers of every CWRU record (drive end and fan end) make the
# features hold across motor loads (docs/bearing.md); the simulator has the drive end only; a
# folder's recordings keep all their channels (None).
AUTO_CHANNEL_LISTS: dict[str, tuple[str, ...]] = {"cwru": ("DE", "FE"), "bearing-sim": ("DE",)}
MAX_WINDOW = 1 << 22


def auto_backbone(input_name: str, method: str) -> str:
    """``--model auto``: ``cpc`` / ``ts2vec`` for those methods, ``mlp`` for spectral inputs (their
    features are tied to frequency positions), ``wdcnn`` for time-domain inputs."""
    if method in TIMESTAMP_BACKBONES:
        return method
    return "mlp" if input_name in SPECTRAL_INPUTS else "wdcnn"


def check_source_data(source: str, data: str | None) -> None:
    """The ``--data`` rule of each signal source: ``cwru`` needs a folder (``--data`` or
    ``$CONTRASTLAB_CWRU_DIR``), ``folder`` needs ``--data``, ``bearing-sim`` reads none (``ucr``:
    optional, the sets bundled with aeon otherwise)."""
    if source == "cwru" and not data and not os.environ.get(CWRU_DIR_ENV):
        raise ValueError(
            f"--source cwru needs a folder of CWRU .mat files: --data DIR or the {CWRU_DIR_ENV} "
            "environment variable"
        )
    if source == "folder" and not data:
        raise ValueError("--source folder needs the folder of recordings: --data DIR")
    if source == "bearing-sim" and data:
        raise ValueError("--source bearing-sim simulates its data: drop --data")


@dataclass
class FolderSourceOptions:
    """The options of ``--source folder``, a folder of the user's own recordings
    (:func:`contrastlab.data.signal_folder.load_folder_splits`; ``--window_length`` and
    ``--stride`` cut its windows). A command's configuration derives from this class as well as
    from its own base, and calls :meth:`check_folder_options` in its ``check``."""

    sample_rate_hz: float | None = option(
        None,
        "folder: sample rate of the recordings in Hz; required unless every file is a .wav "
        "(then the rate they store, which must agree)",
        low=0.0,
        open_low=True,
        high=1e9,
    )
    labels: str = option(
        "folders",
        "folder: folders (DIR/<class>/<file>, one sub-folder per class, at least two) | none "
        "(recordings anywhere under DIR, unlabelled)",
        choices=FOLDER_LABELS,
    )
    variable: str | None = option(
        None, "folder: the variable of each .mat file that holds the signal"
    )
    layout: str | None = option(
        None,
        "folder: how a 2-D .npy array (or .mat --variable) is laid out: channels_first [C, T] | "
        "channels_last [T, C]; without it a 2-D array is refused (a signal is a vector)",
        choices=RECORDING_LAYOUTS,
    )
    on_bad_file: str = option(
        "error",
        "folder: a file that cannot be read or fails a check (NaN, flat line, clipping, too "
        "short): error stops naming it | skip leaves it out with one warning counting them",
        choices=BAD_FILE_POLICIES,
    )
    on_rate_mismatch: str = option(
        "error",
        "folder: a .wav whose rate is not --sample_rate_hz: error | resample it to that rate",
        choices=RATE_MISMATCH_POLICIES,
    )

    def folder_options(self) -> dict[str, Any]:
        """The keyword arguments of ``load_folder_splits`` these options set."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(FolderSourceOptions)}

    def check_folder_options(self, source: str) -> None:
        """Refuse a folder option changed from its default with another ``--source``."""
        if source == "folder":
            return
        changed = [
            f"--{f.name}"
            for f in dataclasses.fields(FolderSourceOptions)
            if getattr(self, f.name) != f.default
        ]
        if changed:
            raise ValueError(
                f"{', '.join(changed)} appl{'ies' if len(changed) == 1 else 'y'} to --source "
                f"folder only, not --source {source}"
            )


_METHODS_HELP = (
    "pretraining method: simclr (views of a window are positives) | supcon (windows of a class "
    "are positives; uses the labels) | cpc (needs --model cpc or auto) | siamese (margin loss "
    "on same / different-class pairs; uses the labels) | ts2vec (needs --model ts2vec or auto "
    "and --input raw or standardize)"
)
_MODELS_HELP = (
    "backbone after the --input front-end: auto | mlp (band energies + MLP) | wdcnn | resnet1d "
    "| cpc | ts2vec; auto: cpc / ts2vec for those methods, "
)


@dataclass
class SignalConfig(TrainConfig):
    """Options shared by the signal commands (model, input representation, pretraining method).

    ``speed_change`` (relative) and ``tilt_db`` set the physical augmentations (0 switches one
    off); ``--no-augment`` drops every augmentation. The SimCLR / SupCon loss is scaled by
    ``temp / base_temp`` (SupContrast's convention; ``base_temp = temp`` gives NT-Xent proper).
    ``ts2vec_*`` size TS2Vec's encoder (``ts2vec_pyramid``: segment counts of its pooling over
    time); ``--ts2vec_average`` encodes with the average of its weights over all training steps.
    """

    method: str = option("simclr", _METHODS_HELP, choices=SIGNAL_METHODS)
    model: str = option(
        "auto",
        _MODELS_HELP + "mlp for fft and envelope inputs, wdcnn for raw and standardize",
        choices=("auto", *SIGNAL_BACKBONES),
    )
    input: str = option(
        "fft",
        "front-end before the backbone: raw (the windows as loaded) | standardize (each window "
        "and channel standardised on its own) | fft (log-magnitude spectrum, L/2 bins) | "
        "envelope (spectrum of the Hilbert envelope, L/2 bins)",
        choices=INPUT_REPRESENTATIONS,
    )
    epochs: int = option(100, "pretraining epochs", low=1, high=100_000)
    learning_rate: float = option(
        0.05, "initial learning rate of pretraining", low=0.0, open_low=True, high=1000.0
    )
    temp: float = option(0.1, "loss temperature of simclr and supcon", low=1e-4, high=100.0)
    base_temp: float = option(
        0.07,
        "simclr / supcon: the loss is scaled by temp / base_temp (SupContrast's convention); "
        "--base_temp equal to --temp gives NT-Xent proper",
        low=1e-4,
        high=100.0,
    )
    head: str = option(
        "mlp",
        "projection head: mlp (Linear-ReLU-Linear) | linear, to --feat_dim (simclr, supcon, "
        "siamese)",
        choices=HEADS,
    )
    feat_dim: int = option(
        64, "output dimension of the projection head (simclr, supcon, siamese)", low=1,
        high=65536,
    )  # fmt: skip
    n_views: int = option(2, "augmented views per window (simclr, supcon)", low=2, high=64)
    margin: float = option(
        1.0,
        "siamese: Hadsell's margin on the Euclidean distance of different-class pairs",
        low=0.0,
        high=1e6,
    )
    augment: bool = option(
        True,
        "augment the simclr / supcon / siamese views (speed change, spectral tilt, circular "
        "shift, scaling, jitter, time and frequency masking); --no-augment drops every one",
    )
    speed_change: float = option(
        0.03,
        "largest relative shaft-speed change a of the views (windows resampled by "
        "s ~ U[1-a, 1+a]); 0: off",
        low=0.0,
        high=1.0,
        open_high=True,
    )
    tilt_db: float = option(
        3.0, "standard deviation in dB of the views' smooth random spectral gain; 0: off",
        low=0.0, high=60.0,
    )  # fmt: skip
    cpc_steps: int = option(8, "CPC: latent steps K predicted ahead", low=1, high=1024)
    cpc_negatives: int = option(
        16, "CPC: negatives per prediction, drawn from the batch's other latents", low=1,
        high=65536,
    )  # fmt: skip
    cpc_latent_dim: int = option(64, "CPC: channels of the encoder's latents z", low=1,
                                 high=65536)  # fmt: skip
    cpc_context_dim: int = option(
        64, "CPC: GRU context size, the dimension of the CPC features", low=1, high=65536
    )
    ts2vec_hidden_dim: int = option(
        64, "TS2Vec: width of the input projection and hidden blocks", low=1, high=65536
    )
    ts2vec_repr_dim: int = option(
        320, "TS2Vec: size of the timestamp representations, the features' dimension", low=1,
        high=65536,
    )  # fmt: skip
    ts2vec_depth: int = option(
        10, "TS2Vec: hidden dilated residual blocks (dilations 1, 2, ..., 2^(depth-1))", low=1,
        high=30,
    )  # fmt: skip
    ts2vec_average: bool = option(
        False,
        "TS2Vec: encode with the average of the weights over all training steps, as TS2Vec's "
        "code does (measured worse with the loop's SGD, hence off)",
    )
    ts2vec_pyramid: list[int] = option(
        help="TS2Vec: segment counts of the max pooling over time that gives the features; 1 is "
        "the paper's full-series maximum, 1,2,4,8 adds the halves, quarters and eighths (keeps "
        "where a pattern occurs: see docs/bearing.md)",
        factory=lambda: [1],
        low=1,
        high=1 << 16,
    )
    eval_batch_size: int = option(
        512, "batch size when encoding features or predicting for evaluation (no gradients)",
        low=1, high=MAX_BATCH,
    )  # fmt: skip
    tsne: bool = option(True, "plot a t-SNE of the frozen test features")

    @property
    def backbone(self) -> str:
        return self.model if self.model != "auto" else auto_backbone(self.input, self.method)

    def check(self) -> None:
        super().check()
        if self.method == "cpc" and self.backbone != "cpc":
            raise ValueError("--method cpc needs --model cpc (or auto)")
        if self.method == "ts2vec" and (self.backbone != "ts2vec" or self.input in SPECTRAL_INPUTS):
            raise ValueError(
                "--method ts2vec needs --model ts2vec (or auto) and --input raw or standardize"
            )
        pyramid = self.ts2vec_pyramid
        if not pyramid or any(b <= a for a, b in itertools.pairwise(pyramid)):
            raise ValueError(
                f"--ts2vec_pyramid must be strictly increasing segment counts, got {pyramid}"
            )


@dataclass
class BearingConfig(SignalConfig):
    """Options of ``contrastlab bearing``: pretraining, few-label evaluation, cross-load test.

    ``baseline_model`` / ``baseline_input`` choose the scratch baseline's backbone and input
    representation (``same``: the pretrained network's). ``test_load = -1`` switches the
    cross-load evaluation off. ``--no-plots`` skips every figure, ``--no-tsne`` only the t-SNE.
    ``--source folder`` (the user's recordings, one sub-folder per class) has no motor loads: its
    preset is ``test_load = -1``.
    """

    epochs: int = option(30, "pretraining epochs", low=1, high=100_000)
    batch_size: int = option(128, "pretraining batch per process", low=1, high=MAX_BATCH)
    cosine: bool = option(
        True, "cosine learning-rate decay to learning_rate * lr_decay_rate^3 (else step decay)"
    )
    temp: float = option(0.5, "loss temperature of simclr and supcon", low=1e-4, high=100.0)
    weight_decay: float = option(
        1e-4, "weight decay of pretraining (--optimizer) and of fine-tuning (SGD)", low=0.0,
        high=1.0, open_high=True,
    )  # fmt: skip
    augment: bool = option(
        True,
        "augment the simclr / supcon / siamese views and the fine-tuning and baseline batches "
        "(speed change, spectral tilt, circular shift, scaling, jitter, time and frequency "
        "masking); --no-augment drops every one",
    )
    tsne: bool = option(True, "plot t-SNEs of the frozen features (--no-plots skips every figure)")
    data: str | None = option(
        None,
        "cwru: folder of CWRU .mat files (default: $CONTRASTLAB_CWRU_DIR); folder: the folder "
        "of recordings, DIR/<class>/<file> (.npy, .csv, .wav, .mat); none for bearing-sim",
    )
    source: str = option(
        "cwru",
        "cwru (CWRU .mat files under --data) | bearing-sim (simulated recordings) | folder "
        "(your recordings under --data, labelled by sub-folder; a class named 'normal' is the "
        "healthy one)",
        choices=BEARING_SOURCES,
    )
    train_load: list[int] = option(
        help="comma-separated motor loads in hp whose recordings are split into train / val / "
        "test; model.pt is trained on all of them (cwru, bearing-sim)",
        factory=lambda: [0],
        choices=MOTOR_LOADS_HP,
    )
    test_load: int = option(
        1,
        "motor load in hp of the cross-load test set, none of --train_load; -1: no cross-load "
        "test (cwru, bearing-sim)",
        choices=(NO_CROSS_LOAD, *MOTOR_LOADS_HP),
    )
    sample_rate_hz: float | None = option(
        None,
        "folder: sample rate of the recordings in Hz (required unless every file is a .wav, "
        "whose rate is read); cwru and bearing-sim are 12000",
        low=0.0,
        open_low=True,
        high=1e9,
    )
    rpm: float | None = option(
        None,
        "folder: shaft speed of the recordings in rpm, stored in model.pt so that diagnose can "
        "compare a recording's speed with it (cwru and bearing-sim record their own)",
        low=0.0,
        open_low=True,
        high=1e7,
    )
    ood_score_quantile: float = option(
        0.99,
        "quantile of the validation windows' out-of-distribution scores taken as the threshold "
        "stored in model.pt (about 1 - q of in-distribution windows are flagged)",
        low=0.0,
        high=1.0,
        open_low=True,
        open_high=True,
    )
    ood_confidence_quantile: float = option(
        0.01,
        "quantile of the validation windows' maximum softmax probabilities taken as the "
        "confidence threshold stored in model.pt",
        low=0.0,
        high=1.0,
        open_low=True,
        open_high=True,
    )
    label_scheme: str = option(
        "10class",
        "10class (normal; inner race, ball, outer race @6 faults of 7, 14 and 21 mils) | "
        "4class (normal, inner_race, ball, outer_race, any size)",
        choices=LABEL_SCHEME_NAMES,
    )
    channels: str = option(
        AUTO_CHANNELS,
        "comma-separated accelerometer channels: DE (drive end), FE (fan end), BA (base); "
        "bearing-sim has DE only; folder: the files' channel names. auto: DE,FE for cwru (the "
        "two accelerometers of every record; see docs/bearing.md), DE for bearing-sim, every "
        "channel of the files for folder",
    )
    window_length: int = option(2048, "samples per window", low=2, high=MAX_WINDOW)
    stride: int = option(1024, "samples between window starts", low=1, high=MAX_WINDOW)
    sim_samples: int = option(
        60_000, "samples per simulated recording (bearing-sim)", low=2, high=1 << 26
    )
    labels_per_class: list[int] = option(
        help="comma-separated few-label budgets, labelled training windows per class; 100% "
        "of the labels is always evaluated too",
        factory=lambda: [1, 5, 10, 20],
        low=1,
        high=1_000_000,
    )
    n_draws: int = option(
        3, "random stratified draws per budget (mean and std over them)", low=1, high=1000
    )
    finetune: bool = option(
        True,
        "fine-tune encoder + linear layer at every budget; model.pt is the classifier "
        "fine-tuned on all labels, else the linear probe",
    )
    baseline: bool = option(
        True, "train the fine-tuning recipe from scratch at every budget, for comparison"
    )
    baseline_model: str = option(
        "same",
        "backbone of the scratch baseline: same (the pretrained network's) | mlp | wdcnn | "
        "resnet1d | cpc | ts2vec",
        choices=("same", *SIGNAL_BACKBONES),
    )
    baseline_input: str = option(
        "same",
        "input of the scratch baseline: same (the pretrained network's) | raw | standardize | "
        "fft | envelope",
        choices=("same", *INPUT_REPRESENTATIONS),
    )
    finetune_epochs: int = option(
        8, "epochs of fine-tuning and of the scratch baseline", low=1, high=100_000
    )
    finetune_steps_per_epoch: int = option(
        10,
        "at least N optimizer steps per fine-tuning epoch (a smaller labelled subset is "
        "repeated to N x --finetune_batch_size windows)",
        low=1,
        high=100_000,
    )
    finetune_batch_size: int = option(
        32, "batch size of fine-tuning and of the scratch baseline", low=1, high=MAX_BATCH
    )
    finetune_learning_rate: float = option(
        0.01,
        "initial learning rate of fine-tuning and of the scratch baseline, with cosine decay",
        low=0.0,
        open_low=True,
        high=1000.0,
    )
    probe_epochs: int = option(
        100, "epochs of the linear probe on the frozen features, best epoch chosen on validation",
        low=1, high=100_000,
    )  # fmt: skip
    probe_learning_rate: float = option(
        0.1, "learning rate of the linear probe", low=0.0, open_low=True, high=1000.0
    )
    plots: bool = option(
        True,
        "draw the figures (confusion matrices, t-SNE, envelope spectra, curves); --no-tsne "
        "skips only the t-SNE",
    )

    @property
    def channel_list(self) -> list[str] | None:
        """The channels to read: upper-cased CWRU codes (``auto``: :data:`AUTO_CHANNEL_LISTS`);
        for ``folder`` the names as given, or ``None`` (every channel of the files) for
        ``auto``."""
        if self.channels == AUTO_CHANNELS:
            auto = AUTO_CHANNEL_LISTS.get(self.source)
            return None if auto is None else list(auto)
        names = [c.strip() for c in self.channels.split(",") if c.strip()]
        return names if self.source == "folder" else [c.upper() for c in names]

    @property
    def cross_load(self) -> bool:
        return self.test_load != NO_CROSS_LOAD

    @classmethod
    def preset(cls, chosen: Mapping[str, Any], given: Set[str]) -> dict[str, Any]:
        """``--source folder``: no cross-load test (a folder has no motor loads)."""
        return {"test_load": NO_CROSS_LOAD} if chosen.get("source") == "folder" else {}

    def _check_loads(self) -> None:
        loads = list(self.train_load)
        if not loads or len(set(loads)) != len(loads):
            raise ValueError(f"--train_load must list distinct motor loads, got {loads}")
        if self.test_load in loads:
            raise ValueError(
                f"--test_load {self.test_load} is one of --train_load {loads}; use another load "
                f"or --test_load {NO_CROSS_LOAD} for no cross-load evaluation"
            )

    def _check_source(self) -> None:
        if self.source == "folder":
            if not self.data:
                raise ValueError("--source folder needs the folder of recordings: --data DIR")
            if self.cross_load:
                raise ValueError(
                    f"--source folder has no motor loads: --test_load {NO_CROSS_LOAD} (its preset)"
                )
            return
        check_source_data(self.source, self.data)
        for name in ("sample_rate_hz", "rpm"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"--{name} describes the recordings of --source folder; {self.source} "
                    "records carry their own"
                )

    def _check_channels(self) -> None:
        channels = self.channel_list
        if channels is None:  # folder, auto: every channel of the files
            return
        if not channels or len(set(channels)) != len(channels):
            raise ValueError(f"--channels must list distinct channels, got {self.channels!r}")
        if self.source == "folder":
            return
        unknown = [c for c in channels if c not in CWRU_CHANNELS]
        if unknown:
            raise ValueError(
                f"--channels must list channels of {', '.join(CWRU_CHANNELS)} (or be "
                f"{AUTO_CHANNELS}), got {self.channels!r}"
            )
        if self.source == "bearing-sim" and channels != ["DE"]:
            raise ValueError("the bearing-sim source has the drive-end channel only: --channels DE")

    def check(self) -> None:
        super().check()
        self._check_source()
        self._check_loads()
        self._check_channels()
        budgets = list(self.labels_per_class)
        if not budgets or len(set(budgets)) != len(budgets):
            raise ValueError(f"--labels_per_class must list distinct budgets, got {budgets}")
        if self.stride > self.window_length * 64:
            raise ValueError(
                f"--stride {self.stride} skips most of each recording (windows of "
                f"{self.window_length}): use at most 64 x --window_length"
            )


@dataclass
class DiagnoseConfig(Config):
    """Options of ``contrastlab diagnose`` (the recordings are its positional arguments)."""

    ckpt: str | None = option(None, "model.pt written by 'contrastlab bearing' (required)")
    sample_rate_hz: float | None = option(
        None,
        "sample rate in Hz of recordings that do not state it (.npy, .csv, .mat); they are "
        "resampled to the model's rate. Not given: CWRU-named files are 12000, others are read "
        "at the model's rate with a warning",
        low=0.0,
        open_low=True,
        high=1e9,
    )
    rpm: float | None = option(
        None,
        "shaft speed of the recordings in rpm (default: the speed a CWRU file records), "
        "compared with the training speeds stored in model.pt",
        low=0.0,
        open_low=True,
        high=1e7,
    )
    variable: str | None = option(
        None, ".mat variable holding the signal (default: by channel, CWRU naming)"
    )
    stride: int | None = option(
        None, "samples between windows (default: one window length)", low=1, high=MAX_WINDOW
    )
    json: bool = option(False, "print one JSON object per file (schema in docs/bearing.md)")
    windows: bool = option(False, "also print every window's class, confidence and OOD score")

    def check(self) -> None:
        if not self.ckpt:
            raise ValueError("--ckpt is required: the model.pt written by 'contrastlab bearing'")


@dataclass
class CPCConfig(FolderSourceOptions, SignalConfig):
    """Options of ``contrastlab cpc`` (the method is CPC). ``--source folder`` reads the user's own
    recordings (:class:`FolderSourceOptions`); with ``--labels none`` there is nothing to probe:
    the command pretrains on every window and writes the encoder and a summary only."""

    method: str = option("cpc", "pretraining method (cpc only)", choices=("cpc",), cli=False)
    input: str = option(
        "standardize",
        "front-end before the CPC encoder: raw | standardize (each window and channel "
        "standardised on its own)",
        choices=INPUT_REPRESENTATIONS,
    )
    epochs: int = option(20, "pretraining epochs", low=1, high=100_000)
    batch_size: int = option(64, "pretraining batch per process", low=1, high=MAX_BATCH)
    cosine: bool = option(
        True, "cosine learning-rate decay to learning_rate * lr_decay_rate^3 (else step decay)"
    )
    source: str = option(
        "cwru",
        "cwru (CWRU .mat files under --data) | bearing-sim (simulated recordings) | ucr "
        "(--dataset) | folder (your own .npy / .csv / .wav / .mat recordings under --data)",
        choices=SIGNAL_SOURCES,
    )
    data: str | None = option(
        None,
        "cwru: folder of CWRU .mat files (default: $CONTRASTLAB_CWRU_DIR); ucr: folder of "
        "NAME_TRAIN.ts / NAME_TEST.ts files (default: the sets bundled with aeon); folder: the "
        "folder of recordings; bearing-sim: none",
    )
    dataset: str = option("GunPoint", "UCR set of --source ucr, e.g. GunPoint, ArrowHead")
    loads: list[int] = option(
        help="comma-separated motor loads in hp of the recordings used (cwru, bearing-sim)",
        factory=lambda: [0],
        choices=MOTOR_LOADS_HP,
    )
    window_length: int = option(2048, "samples per window (cwru, bearing-sim, folder)", low=2,
                                high=MAX_WINDOW)  # fmt: skip
    stride: int = option(1024, "samples between window starts (cwru, bearing-sim, folder)",
                         low=1, high=MAX_WINDOW)  # fmt: skip
    sim_samples: int = option(
        60_000, "samples per simulated recording (bearing-sim)", low=2, high=1 << 26
    )
    probe_epochs: int = option(
        100, "epochs of the linear probe on the frozen features, best epoch chosen on validation",
        low=1, high=100_000,
    )  # fmt: skip

    @property
    def probes(self) -> bool:
        """Whether the data have labels to probe (every source but ``folder --labels none``)."""
        return not (self.source == "folder" and self.labels == "none")

    def check(self) -> None:
        super().check()
        check_source_data(self.source, self.data)
        self.check_folder_options(self.source)


# TS2Vec's recipe for --method ts2vec: its encoder, batches of 8 and 200 optimizer steps (the
# paper's count for sets of at most 100000 values, all of these small UCR sets). The paper uses
# AdamW at 1e-3; the shared loop's SGD needs its own learning rate (docs/bearing.md). The SVM
# features pool the pyramid's levels that cross-validation on the official training split keeps.
TS2VEC_DEFAULTS: dict[str, Any] = {
    "batch_size": 8,
    "iters": 200,
    "learning_rate": 0.01,
    "cosine": False,
    "ts2vec_pyramid": [1, 2, 4, 8, 16],
    "ts2vec_pooling": "cv",
}


@dataclass
class UCRConfig(SignalConfig):
    """Options of ``contrastlab ucr``: one full batch per epoch on these small sets. The
    speed-change and spectral-tilt views model rotating machinery, not UCR series: they are off
    by default (generic views only). ``--method ts2vec`` takes TS2Vec's recipe
    (:data:`TS2VEC_DEFAULTS`) unless options say otherwise. Sets of series of unequal length
    are padded with NaN to the longest; only TS2Vec masks the padding, so they need
    ``--method ts2vec`` with ``--input raw`` (checked when the set is loaded)."""

    dataset: str = option("GunPoint", "UCR / UEA set, e.g. GunPoint, ArrowHead, ItalyPowerDemand")
    data: str | None = option(
        None,
        "folder of NAME_TRAIN.ts / NAME_TEST.ts (or NAME/ inside it); default: the sets "
        "bundled with aeon, others downloaded by aeon",
    )
    normalization: str = option(
        "none",
        "values fed to the network: none (as stored; the UCR archive stores its univariate "
        "series z-normalised one by one) | per_series (each series and channel z-scored over "
        "its own timestamps) | train_zscore (TS2Vec's: each channel z-scored with the mean and "
        "std of every value of the official training split, applied to train and test)",
        choices=UCR_NORMALIZATIONS,
    )
    model: str = option("auto", _MODELS_HELP + "else resnet1d", choices=("auto", *SIGNAL_BACKBONES))
    input: str = option(
        "raw", "front-end before the backbone: raw | standardize | fft | envelope",
        choices=INPUT_REPRESENTATIONS,
    )  # fmt: skip
    epochs: int = option(
        200, "pretraining epochs (replaced by --iters when it is > 0)", low=1, high=100_000
    )
    batch_size: int = option(256, "pretraining batch per process", low=1, high=MAX_BATCH)
    cosine: bool = option(
        True, "cosine learning-rate decay to learning_rate * lr_decay_rate^3 (else step decay)"
    )
    temp: float = option(0.5, "loss temperature of simclr and supcon", low=1e-4, high=100.0)
    speed_change: float = option(
        0.0, "largest relative speed change of the views (0: off)", low=0.0, high=1.0,
        open_high=True,
    )  # fmt: skip
    tilt_db: float = option(
        0.0, "standard deviation in dB of the views' spectral gain (0: off)", low=0.0, high=60.0
    )
    feat_dim: int = option(128, "output dimension of the projection head", low=1, high=65536)
    val_fraction: float = option(
        0.2,
        "fraction of the official training split held out (stratified) to choose the linear "
        "probe's epoch; pretraining and the SVM use the whole split",
        low=0.0,
        high=1.0,
        open_low=True,
        open_high=True,
    )
    probe_epochs: int = option(
        200, "epochs of the linear probe on the frozen features", low=1, high=100_000
    )
    iters: int = option(
        0,
        "optimizer steps of pretraining; > 0 replaces --epochs by the epochs that give at "
        "least that many steps; 0: --epochs (--method ts2vec: 200 unless given)",
        low=0,
        high=10_000_000,
    )
    ts2vec_pooling: str = option(
        "fixed",
        "TS2Vec: fixed pools every level of --ts2vec_pyramid; cv keeps its leading levels (1, "
        "then 1,2, ...) that the SVM classifies best in cross-validation on the official "
        "training split; a tie keeps fewer levels, and levels finer than the series are dropped",
        choices=TS2VEC_POOLINGS,
    )

    @property
    def backbone(self) -> str:
        """``--model auto``: the method's own model for ``cpc`` / ``ts2vec``, else ``resnet1d``."""
        if self.model != "auto":
            return self.model
        return self.method if self.method in TIMESTAMP_BACKBONES else "resnet1d"

    @classmethod
    def preset_fields(cls) -> frozenset[str]:
        return frozenset(TS2VEC_DEFAULTS)

    @classmethod
    def preset(cls, chosen: Mapping[str, Any], given: Set[str]) -> dict[str, Any]:
        """TS2Vec's recipe for ``--method ts2vec``; its step count only where ``--epochs`` is
        not given (an explicit epoch count is kept)."""
        if chosen.get("method") != "ts2vec":
            return {}
        return {k: v for k, v in TS2VEC_DEFAULTS.items() if k != "iters" or "epochs" not in given}
