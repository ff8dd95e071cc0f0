"""Step 1 of ``contrastlab bearing``: the windows of a run and the facts ``model.pt`` stores.

- **Training loads.** The recordings at every load of ``--train_load`` (CWRU ``.mat`` files under
  ``--data`` or the ``bearing-sim`` simulator), or every recording of ``--source folder``, are
  split by time inside each recording (train / val / test, no shared samples) and standardised
  per channel with training statistics. The classifier of ``model.pt`` is trained on all of them.
- **Cross-load set.** With ``--test_load`` the recordings at that other load (another shaft
  speed), cut whole into windows and standardised with the *training* statistics. A class with no
  training recording (CWRU 1 hp has no normal recording, so training at 1 hp has no normal class)
  cannot be predicted: its windows are left out of the cross-load set and named in
  :attr:`BearingData.cross_left_out`.
- **Facts** for ``model.pt`` (:func:`contrastlab.models.diagnosis_model.save_diagnosis_model`):
  classes, sample rate, window, channels, normalisation, label scheme, the training recordings'
  shaft speeds (``training_rpm``: CWRU and the simulator record them, ``--rpm`` gives them for a
  folder) and ``speed_tolerance``, the relative speed change of the training views
  (``--speed_change``; 0 without augmentation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from contrastlab.config.signal import BearingConfig
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.splits import DataSplits, LabeledTensors


@dataclass
class BearingData:
    """The windows of a bearing run and the facts ``model.pt`` stores about them."""

    splits: DataSplits
    cross: LabeledTensors | None
    facts: dict[str, Any] = field(default_factory=dict)
    cross_left_out: list[str] = field(default_factory=list)

    @property
    def test_sets(self) -> dict[str, LabeledTensors]:
        return {"test": self.splits.test} | (
            {} if self.cross is None else {"cross_load": self.cross}
        )


def _load(config: BearingConfig, loads: Sequence[int], whole: bool) -> DataSplits:
    """Windows of the recordings at motor loads ``loads`` (every recording of a folder);
    ``whole`` puts every window in ``train`` without normalisation (a test set for another load's
    model)."""
    options: dict[str, Any] = {"window_length": config.window_length, "stride": config.stride}
    if whole:
        options.update(split_fractions=(1.0, 0.0, 0.0), normalize="none")
    if config.source == "folder":
        return load_signal_source(
            "folder", config.data, sample_rate_hz=config.sample_rate_hz,
            channels=config.channel_list, **options,
        )  # fmt: skip
    options.update(loads=sorted(loads), label_scheme=config.label_scheme)
    if config.source == "cwru":
        return load_signal_source("cwru", config.data, channels=config.channel_list, **options)
    seed = config.seed + 1000 * min(loads)  # another load's recordings get other random draws
    return load_signal_source("bearing-sim", None, n_samples=config.sim_samples, seed=seed,
                              **options)  # fmt: skip


def training_loads(config: BearingConfig) -> list[int] | None:
    """The motor loads ``model.pt`` is trained on (``None`` for a folder, which has none)."""
    return None if config.source == "folder" else sorted(config.train_load)


def training_speeds(
    records: Sequence[dict[str, Any]], rpm: float | None
) -> dict[str, float] | None:
    """``{"min", "max", "mean"}`` of the recordings' shaft speeds in rpm (the ``rpm`` of each
    record that has one; ``rpm`` itself when given, for recordings that do not record theirs);
    ``None`` when no speed is known."""
    speeds = [float(rpm)] if rpm is not None else [r["rpm"] for r in records if r.get("rpm")]
    if not speeds:
        return None
    return {"min": min(speeds), "max": max(speeds), "mean": sum(speeds) / len(speeds)}


def _cross_load_set(config: BearingConfig, data: DataSplits) -> tuple[LabeledTensors, list[str]]:
    """The ``--test_load`` windows of the classes the training split holds, standardised with the
    training statistics, and the names of the classes left out."""
    other = _load(config, [config.test_load], whole=True).train
    trained = torch.bincount(data.train.labels, minlength=data.num_classes) > 0
    present = torch.bincount(other.labels, minlength=data.num_classes) > 0
    left_out = [
        name
        for name, seen, learned in zip(data.class_names, present, trained, strict=True)
        if seen and not learned
    ]
    keep = trained[other.labels]
    normalization = data.metadata["normalization"]
    mean = torch.tensor(normalization["mean"], dtype=torch.float64)[None, :, None]
    std = torch.tensor(normalization["std"], dtype=torch.float64)[None, :, None]
    inputs = ((other.inputs[keep].double() - mean) / std).float()
    return LabeledTensors(inputs, other.labels[keep]), left_out


def load_bearing_data(config: BearingConfig) -> BearingData:
    """Step 1 (module docstring): the splits of the training loads and the cross-load windows of
    ``--test_load`` (None without)."""
    data = _load(config, config.train_load, whole=False)
    counts = torch.bincount(data.train.labels, minlength=data.num_classes)
    smallest, budget = int(counts[counts > 0].min()), max(config.labels_per_class)
    if smallest < budget:
        raise ValueError(
            f"a class has only {smallest} training windows, fewer than --labels_per_class "
            f"{budget}: use a smaller budget, a smaller --stride or longer recordings"
        )
    facts = {
        "class_names": list(data.class_names),
        "sample_rate_hz": float(data.metadata["sample_rate_hz"]),
        "window_length": int(data.train.inputs.shape[2]),
        "stride": config.stride,
        "channels": list(data.metadata["channels"]),
        "normalization": data.metadata["normalization"],
        "label_scheme": None if config.source == "folder" else config.label_scheme,
        "training_rpm": training_speeds(data.metadata["records"], config.rpm),
        "speed_tolerance": config.speed_change if config.augment else 0.0,
    }
    if not config.cross_load:
        return BearingData(data, None, facts)
    cross, left_out = _cross_load_set(config, data)
    return BearingData(data, cross, facts, left_out)


def data_summary(data: BearingData, config: BearingConfig) -> dict[str, Any]:
    """What ``summary.json`` says about the data: source, loads, classes, windows, speeds."""
    splits = data.splits
    summary: dict[str, Any] = {
        "source": config.source,
        "train_load_hp": training_loads(config),
        "class_names": list(splits.class_names),
        "sample_rate_hz": data.facts["sample_rate_hz"],
        "window_length": config.window_length,
        "stride": config.stride,
        "channels": data.facts["channels"],
        "training_rpm": data.facts["training_rpm"],
        "windows": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
        "train_windows_per_class": torch.bincount(
            splits.train.labels, minlength=splits.num_classes
        ).tolist(),
    }
    if data.cross is not None:
        summary["test_load_hp"] = config.test_load
        summary["windows"]["cross_load"] = len(data.cross)
        present = torch.bincount(data.cross.labels, minlength=splits.num_classes) > 0
        summary["cross_load_classes"] = [
            name for name, seen in zip(splits.class_names, present.tolist(), strict=True) if seen
        ]
        summary["cross_load_left_out"] = {
            name: "no training recording of this class" for name in data.cross_left_out
        }
    return summary
