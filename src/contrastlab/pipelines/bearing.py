"""Bearing fault diagnosis with contrastive pretraining: ``contrastlab bearing``.

Protocol (one run directory holds everything):

1. **Data.** Windows of the recordings at ``--train_load`` (CWRU ``.mat`` files under ``--data``,
   or the ``bearing-sim`` simulator), split by time inside each recording (train / val / test, no
   shared samples), standardised per channel with training statistics. With ``--test_load`` the
   recordings at that other motor load (another shaft speed) form the cross-load test set, cut
   whole into windows and standardised with the *training* statistics.
2. **Pretraining** of the encoder (input front-end + backbone, see
   :mod:`contrastlab.models.signal_spec`) on the training windows with ``--method``
   (:mod:`contrastlab.pipelines.signal_pretrain`). ``simclr`` and ``cpc`` never see a label;
   ``supcon`` and ``siamese`` use every training label (``summary.json`` says so).
3. **Few-label evaluation** at ``--labels_per_class`` (default 1, 5, 10, 20) and at 100 % of the
   training labels, each budget over ``--n_draws`` random stratified draws (mean and std), by
   (a) a linear probe on the frozen features (epoch chosen on the validation split), (b)
   fine-tuning encoder + linear layer, and (c) the baseline: the same recipe trained from
   scratch on the same labelled windows, with the same network (default) or another one
   (``--baseline_model wdcnn --baseline_input raw``: the classic supervised WDCNN). Every
   classifier is also scored on the cross-load set.
4. **Outputs:** ``model.pt`` (the classifier fine-tuned on all training labels, with everything
   ``contrastlab diagnose`` needs; loads with ``torch.load(weights_only=True)``), confusion
   matrices, t-SNE of the frozen features, per-class envelope spectra with the bearing defect
   frequencies, training curves, the few-label curve and ``summary.json`` with every figure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from contrastlab._checks import check_choice
from contrastlab.data.bearing_sim import LOAD_RPM, SKF_6205
from contrastlab.data.cwru import LABEL_SCHEMES
from contrastlab.data.signal_sources import check_source_data, load_signal_source
from contrastlab.data.spectra import envelope_spectrum
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.features import extract_features
from contrastlab.evaluation.few_label import run_few_label_protocol
from contrastlab.evaluation.linear_probe import linear_probe
from contrastlab.evaluation.metrics import accuracy, confusion_matrix
from contrastlab.evaluation.plots import (
    plot_confusion_matrix,
    plot_envelope_spectrum,
    plot_lines,
    plot_training_curves,
    plot_tsne,
)
from contrastlab.models.registry import SIGNAL_BACKBONES as BACKBONES
from contrastlab.models.signal_encoder import INPUT_REPRESENTATIONS, SignalEncoder
from contrastlab.models.signal_networks import SignalClassifier
from contrastlab.models.signal_spec import build_signal_encoder
from contrastlab.pipelines.diagnose import save_diagnosis_model
from contrastlab.pipelines.fine_tune import FineTuneRecipe, train_classifier
from contrastlab.pipelines.signal_pretrain import (
    LABELLED_METHODS,
    SignalConfig,
    pretrain_encoder,
    views_augment,
)
from contrastlab.training.devices import resolve_device
from contrastlab.training.rng import seed_everything

BEARING_SOURCES = ("cwru", "bearing-sim")
NO_CROSS_LOAD = -1


@dataclass
class BearingConfig(SignalConfig):
    """Options of ``contrastlab bearing`` (pretraining options from :class:`SignalConfig`).

    ``baseline_model`` / ``baseline_input`` choose the scratch baseline's backbone and input
    representation (``same``: the pretrained network's). ``test_load = -1`` switches the
    cross-load evaluation off. ``labels_per_class`` lists the
    few-label budgets; 100 % of the labels is always evaluated too. ``--no-plots`` skips every
    figure, ``--no-tsne`` only the t-SNE ones.
    """

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 0.05
    cosine: bool = True
    temp: float = 0.5
    data: str | None = None
    source: str = "cwru"
    train_load: int = 0
    test_load: int = 1
    label_scheme: str = "10class"
    channels: str = "DE"
    window_length: int = 2048
    stride: int = 1024
    sim_samples: int = 60_000
    labels_per_class: list[int] = field(default_factory=lambda: [1, 5, 10, 20])
    n_draws: int = 3
    finetune: bool = True
    baseline: bool = True
    baseline_model: str = "same"
    baseline_input: str = "same"
    finetune_epochs: int = 8
    finetune_steps_per_epoch: int = 10
    finetune_batch_size: int = 32
    finetune_learning_rate: float = 0.01
    probe_epochs: int = 100
    probe_learning_rate: float = 0.1
    plots: bool = True

    def validate(self) -> None:
        super().validate()
        check_choice("--source", self.source, BEARING_SOURCES)
        check_choice("--label_scheme", self.label_scheme, tuple(LABEL_SCHEMES))
        check_choice("--baseline_model", self.baseline_model, ("same", *BACKBONES))
        check_choice("--baseline_input", self.baseline_input, ("same", *INPUT_REPRESENTATIONS))
        check_source_data(self.source, self.data)
        if self.test_load == self.train_load:
            raise ValueError(
                f"--test_load must differ from --train_load ({self.train_load}); "
                f"use --test_load {NO_CROSS_LOAD} for no cross-load evaluation"
            )
        if self.source == "bearing-sim":
            for name in ("train_load", "test_load"):
                load = getattr(self, name)
                if load != NO_CROSS_LOAD and load not in LOAD_RPM:
                    raise ValueError(f"--{name} must be one of {sorted(LOAD_RPM)}, got {load}")
        budgets = list(self.labels_per_class)
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in budgets):
            raise ValueError(f"--labels_per_class must be integers >= 1, got {budgets}")
        if len(set(budgets)) != len(budgets):
            raise ValueError(f"--labels_per_class has duplicates: {budgets}")
        for name in (
            "window_length",
            "stride",
            "n_draws",
            "finetune_epochs",
            "finetune_steps_per_epoch",
            "finetune_batch_size",
            "probe_epochs",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not (self.finetune_learning_rate > 0 and self.probe_learning_rate > 0):
            raise ValueError("--finetune_learning_rate and --probe_learning_rate must be > 0")

    @property
    def channel_list(self) -> list[str]:
        return [c.strip().upper() for c in self.channels.split(",") if c.strip()]

    @property
    def cross_load(self) -> bool:
        return self.test_load != NO_CROSS_LOAD

    def baseline_spec(self, in_channels: int, window_length: int) -> dict[str, Any]:
        """The scratch baseline's network spec (the pretrained network's unless overridden)."""
        return self.network_spec(
            in_channels,
            window_length,
            backbone=None if self.baseline_model == "same" else self.baseline_model,
            input_name=None if self.baseline_input == "same" else self.baseline_input,
        )

    def recipe(self) -> FineTuneRecipe:
        return FineTuneRecipe(
            epochs=self.finetune_epochs,
            steps_per_epoch=self.finetune_steps_per_epoch,
            batch_size=self.finetune_batch_size,
            learning_rate=self.finetune_learning_rate,
            weight_decay=self.weight_decay,
            device=self.device,
            precision=self.precision,
        )


# ----------------------------------------------------------------------------------------- data


def _load(config: BearingConfig, load: int, whole: bool) -> DataSplits:
    """Windows of the recordings at motor load ``load``; ``whole`` puts every window of every
    recording in ``train`` without normalisation (a test set for another load's model)."""
    options: dict[str, Any] = {
        "loads": [load],
        "window_length": config.window_length,
        "stride": config.stride,
        "label_scheme": config.label_scheme,
    }
    if whole:
        options.update(split_fractions=(1.0, 0.0, 0.0), normalize="none")
    if config.source == "cwru":
        options["channels"] = config.channel_list
        return load_signal_source("cwru", config.data, **options)
    if config.channel_list != ["DE"]:
        raise ValueError("the bearing-sim source has the drive-end channel only: --channels DE")
    options.update(n_samples=config.sim_samples, seed=config.seed + 1000 * load)
    return load_signal_source("bearing-sim", None, **options)


def load_bearing_data(config: BearingConfig) -> tuple[DataSplits, LabeledTensors | None]:
    """``(splits at train_load, cross-load windows at test_load or None)``; the cross-load
    windows are standardised with the training statistics of the first."""
    data = _load(config, config.train_load, whole=False)
    smallest = int(torch.unique(data.train.labels, return_counts=True)[1].min())
    budgets = max(config.labels_per_class)
    if smallest < budgets:
        raise ValueError(
            f"a class has only {smallest} training windows, fewer than --labels_per_class "
            f"{budgets}: use a smaller budget, a smaller --stride or longer recordings"
        )
    if not config.cross_load:
        return data, None
    other = _load(config, config.test_load, whole=True).train
    normalization = data.metadata["normalization"]
    mean = torch.tensor(normalization["mean"], dtype=torch.float64)[None, :, None]
    std = torch.tensor(normalization["std"], dtype=torch.float64)[None, :, None]
    inputs = ((other.inputs.double() - mean) / std).float()
    return data, LabeledTensors(inputs, other.labels)


# ----------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def predict(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Class predictions ``[N]`` of a classifier (logits ``[N, C]``) over ``inputs``."""
    return extract_features(model, inputs, batch_size=batch_size).argmax(dim=1)


def _score(
    model: torch.nn.Module, sets: dict[str, LabeledTensors], batch_size: int
) -> dict[str, float]:
    return {
        name: accuracy(predict(model, split.inputs, batch_size), split.labels)
        for name, split in sets.items()
    }


def _few_label(
    train_labels: torch.Tensor,
    config: BearingConfig,
    evaluate: Callable[[torch.Tensor, str], dict[str, float]],
    description: str,
) -> dict[str, dict[str, Any]]:
    """The few-label protocol with several scores per classifier: ``evaluate(indices, name)``
    returns ``{"test": ..., "cross_load": ...}``; the protocol's mean / std are over ``test`` and
    every other score gets its own ``{"scores", "mean", "std"}`` entry."""
    budgets: list[int | None] = [*config.labels_per_class, None]
    n_runs = len(config.labels_per_class) * config.n_draws + 1
    bar = tqdm(total=n_runs, desc=description, disable=not config.progress, dynamic_ncols=True)
    extra: list[dict[str, float]] = []
    draws_seen: dict[int, int] = {}

    def fit_and_score(indices: torch.Tensor) -> float:
        n_labeled = int(indices.numel())
        draw = draws_seen.get(n_labeled, 0)
        draws_seen[n_labeled] = draw + 1
        scores = evaluate(indices, f"{n_labeled:05d}labels_draw{draw}")
        extra.append(scores)
        bar.update(1)
        bar.set_postfix(labels=n_labeled, test=f"{scores['test']:.1f}")
        return scores["test"]

    try:
        results = run_few_label_protocol(
            train_labels, fit_and_score, budgets, config.n_draws, config.seed
        )
    finally:
        bar.close()
    position = 0
    for entry in results.values():
        runs = extra[position : position + len(entry["scores"])]
        position += len(runs)
        for name in runs[0]:
            if name == "test":
                continue
            values = [run[name] for run in runs]
            entry[name] = {
                "scores": values,
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            }
    return results


@dataclass
class _Features:
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    cross: torch.Tensor | None


def _extract(
    encoder: SignalEncoder,
    data: DataSplits,
    cross: LabeledTensors | None,
    batch_size: int,
    progress: bool,
) -> _Features:
    def run(inputs: torch.Tensor) -> torch.Tensor:
        return extract_features(encoder, inputs, batch_size=batch_size, progress=progress)

    return _Features(
        train=run(data.train.inputs),
        val=run(data.val.inputs),
        test=run(data.test.inputs),
        cross=None if cross is None else run(cross.inputs),
    )


# ---------------------------------------------------------------------------------------- plots


def _defect_frequencies(shaft_hz: float) -> dict[str, float]:
    return {
        "shaft": round(shaft_hz, 2),
        "BPFO": round(SKF_6205.bpfo(shaft_hz), 2),
        "BPFI": round(SKF_6205.bpfi(shaft_hz), 2),
        "BSF": round(SKF_6205.bsf(shaft_hz), 2),
    }


def plot_class_envelope_spectra(data: DataSplits, run_dir: Path, load_hp: int) -> dict[str, str]:
    """One PNG per class present in the test split: the mean envelope spectrum of its test windows
    (first channel), with the SKF 6205 defect frequencies at the recorded shaft speed."""
    sample_rate_hz = float(data.metadata["sample_rate_hz"])
    records = data.metadata.get("records", [])
    paths = {}
    for label in torch.unique(data.test.labels).tolist():
        name = data.class_names[label]
        windows = data.test.inputs[data.test.labels == label][:, 0].double().numpy()
        freqs, amplitude = envelope_spectrum(windows, sample_rate_hz)
        rpms = [r["rpm"] for r in records if r.get("label") == label and r.get("rpm")]
        rpm = float(np.mean(rpms)) if rpms else LOAD_RPM.get(load_hp, 1797.0)
        markers = _defect_frequencies(rpm / 60.0)
        safe = name.replace("@", "at")
        path = plot_envelope_spectrum(
            freqs,
            amplitude.mean(axis=0),
            run_dir / "envelope_spectra" / f"{label:02d}_{safe}.png",
            markers=markers,
            max_frequency_hz=4.2 * markers["BPFI"],
            title=f"envelope spectrum, {name} ({windows.shape[0]} test windows, {rpm:.0f} rpm)",
        )
        paths[name] = str(path)
    return paths


def _draw_figures(
    config: BearingConfig,
    run_dir: Path,
    data: DataSplits,
    cross: LabeledTensors | None,
    features: _Features,
    final: SignalClassifier,
    few_label: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, Any]:
    """Training curves, confusion matrices of ``final`` (test and cross-load), t-SNE of the frozen
    features, per-class envelope spectra and the few-label curve; returns their paths."""
    plots: dict[str, Any] = {}
    plots["training_curves"] = str(
        plot_training_curves(run_dir / "metrics.jsonl", run_dir / "training_curves.png")
    )
    sets = {"test": (data.test, features.test)}
    if cross is not None and features.cross is not None:
        sets["cross_load"] = (cross, features.cross)
    for name, (split, split_features) in sets.items():
        predictions = predict(final, split.inputs, config.eval_batch_size)
        score = accuracy(predictions, split.labels)
        cm = confusion_matrix(predictions, split.labels, data.num_classes)
        plots[f"confusion_{name}"] = str(
            plot_confusion_matrix(
                cm,
                data.class_names,
                run_dir / f"confusion_{name}.png",
                title=f"model.pt on {name} ({score:.2f}%)",
            )
        )
        if config.tsne:
            plots[f"tsne_{name}"] = str(
                plot_tsne(
                    split_features,
                    split.labels,
                    data.class_names,
                    run_dir / f"tsne_{name}.png",
                    seed=config.seed,
                    title=f"t-SNE of frozen {config.method} features, {name}",
                )
            )
    plots["envelope_spectra"] = plot_class_envelope_spectra(data, run_dir, config.train_load)
    plots["few_label"] = str(_plot_few_label(few_label, run_dir / "few_label.png"))
    return plots


def _plot_few_label(results: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    series = {}
    for evaluator, table in results.items():
        x = [entry["n_labeled"] for entry in table.values()]
        series[evaluator] = (x, [entry["mean"] for entry in table.values()])
    return plot_lines(
        series,
        path,
        xlabel="labelled training windows",
        ylabel="test accuracy (%)",
        logx=True,
        title="few-label test accuracy (mean over draws)",
    )


# ------------------------------------------------------------------------------------- pipeline


def _mean_score(entry: dict[str, Any], score: str) -> float | None:
    """Mean of ``score`` ('test' or 'cross_load') in one few-label table entry."""
    if score == "test":
        return entry["mean"]
    return entry[score]["mean"] if score in entry else None


def _compare_with_scratch(
    few_label: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per budget and test set: the best pretrained evaluator's mean against the scratch
    baseline's (``pretraining_wins`` only when strictly better: equal means are a tie)."""
    comparison: dict[str, dict[str, dict[str, Any]]] = {}
    pretrained = [kind for kind in few_label if kind != "scratch_baseline"]
    for key, scratch in few_label["scratch_baseline"].items():
        comparison[key] = {}
        for score in ("test", "cross_load"):
            scratch_mean = _mean_score(scratch, score)
            if scratch_mean is None:
                continue
            best_mean, best_kind = max(
                (_mean_score(few_label[kind][key], score), kind) for kind in pretrained
            )
            comparison[key][score] = {
                "best_pretrained": best_kind,
                "pretrained_mean": best_mean,
                "scratch_mean": scratch_mean,
                "pretraining_wins": best_mean > scratch_mean,
            }
    return comparison


def _data_summary(
    data: DataSplits, cross: LabeledTensors | None, config: BearingConfig
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "source": config.source,
        "train_load_hp": config.train_load,
        "class_names": list(data.class_names),
        "sample_rate_hz": float(data.metadata["sample_rate_hz"]),
        "window_length": config.window_length,
        "stride": config.stride,
        "channels": config.channel_list,
        "windows": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "train_windows_per_class": torch.bincount(
            data.train.labels, minlength=data.num_classes
        ).tolist(),
    }
    if cross is not None:
        summary["test_load_hp"] = config.test_load
        summary["windows"]["cross_load"] = len(cross)
        summary["cross_load_classes"] = [
            data.class_names[c] for c in torch.unique(cross.labels).tolist()
        ]
    return summary


def run_bearing(config: BearingConfig) -> dict[str, Any]:
    """Run the whole protocol of the module docstring; return the summary (also in
    ``summary.json``)."""
    started = time.perf_counter()
    config.validate()
    config.apply_threads()
    run_dir = config.run_dir(f"bearing-{config.source}-{config.method}")
    data, cross = load_bearing_data(config)
    device = resolve_device(config.device)
    in_channels, window_length = int(data.train.inputs.shape[1]), int(data.train.inputs.shape[2])
    spec = config.network_spec(in_channels, window_length)
    sets = {"test": data.test} | ({} if cross is None else {"cross_load": cross})
    facts = {
        "class_names": list(data.class_names),
        "sample_rate_hz": float(data.metadata["sample_rate_hz"]),
        "window_length": window_length,
        "stride": config.stride,
        "channels": config.channel_list,
        "normalization": data.metadata["normalization"],
        "label_scheme": config.label_scheme,
    }

    # 1. pretraining
    pretrain_started = time.perf_counter()
    encoder, fit_result = pretrain_encoder(
        config, data.train, spec, run_dir, checkpoint_extra={"data_facts": facts}
    )
    pretrain_seconds = time.perf_counter() - pretrain_started
    features = _extract(encoder, data, cross, config.eval_batch_size, config.progress)

    # 2. few-label evaluations
    augment = views_augment(config, window_length)
    recipe = config.recipe()
    all_labels_models: dict[str, SignalClassifier] = {}
    num_classes = data.num_classes

    def probe(indices: torch.Tensor, name: str) -> dict[str, float]:
        result = linear_probe(
            features.train[indices],
            data.train.labels[indices],
            features.val,
            data.val.labels,
            features.test,
            data.test.labels,
            num_classes=num_classes,
            epochs=config.probe_epochs,
            learning_rate=config.probe_learning_rate,
            seed=config.seed,
        )
        scores = {"test": result.test_top1}
        assert result.classifier is not None
        if features.cross is not None and cross is not None:
            logits = result.classifier(features.cross.to(result.classifier.weight.device))
            scores["cross_load"] = accuracy(logits.argmax(dim=1).cpu(), cross.labels)
        if indices.numel() == len(data.train):
            probe_model = SignalClassifier(encoder, num_classes)
            probe_model.classifier.load_state_dict(result.classifier.state_dict())
            all_labels_models["linear_probe"] = probe_model.eval()
        return scores

    def trainer(start: SignalEncoder, kind: str) -> Callable[[torch.Tensor, str], dict]:
        def evaluate(indices: torch.Tensor, name: str) -> dict[str, float]:
            subset = data.train.subset(indices)
            model = train_classifier(
                start, num_classes, subset, recipe, run_dir / kind / name, augment, config.seed
            )
            if indices.numel() == len(data.train):
                all_labels_models[kind] = model
            return _score(model, sets, config.eval_batch_size)

        return evaluate

    few_label = {"linear_probe": _few_label(data.train.labels, config, probe, "linear probe")}
    if config.finetune:
        few_label["fine_tune"] = _few_label(
            data.train.labels, config, trainer(encoder, "fine_tune"), "fine-tune"
        )
    if config.baseline:
        seed_everything(config.seed + 7)
        baseline_spec = config.baseline_spec(in_channels, window_length)
        scratch = build_signal_encoder(baseline_spec)
        few_label["scratch_baseline"] = _few_label(
            data.train.labels, config, trainer(scratch, "scratch_baseline"), "scratch baseline"
        )

    # 3. the diagnosis model: fine-tuned on all labels (else the frozen encoder + linear probe)
    chosen = "fine_tune" if "fine_tune" in all_labels_models else "linear_probe"
    final = all_labels_models[chosen].cpu().eval()
    final_scores = _score(final, sets, config.eval_batch_size)
    model_path = save_diagnosis_model(
        run_dir / "model.pt",
        final,
        spec,
        trained_on={
            "source": config.source,
            "load_hp": config.train_load,
            "method": config.method,
            "classifier": chosen,
            "test_top1": final_scores["test"],
        },
        **facts,
    )

    # 4. figures
    plots = (
        _draw_figures(config, run_dir, data, cross, features, final, few_label)
        if config.plots
        else {}
    )

    comparison = _compare_with_scratch(few_label) if config.baseline else {}
    history = fit_result.history
    summary: dict[str, Any] = {
        "method": config.method,
        "model": config.backbone,
        "input": config.input,
        "data": _data_summary(data, cross, config),
        "pretraining": {
            "epochs": config.epochs,
            "uses_labels": config.method in LABELLED_METHODS,
            "final_loss": history[-1]["loss"] if history else None,
            "final_metrics": history[-1] if history else None,
            "seconds": pretrain_seconds,
        },
        "few_label": few_label,
        "pretraining_vs_scratch": comparison,
        "scratch_baseline": None
        if not config.baseline
        else {"model": baseline_spec["backbone"], "input": baseline_spec["input"]},
        "model_pt": {"path": str(model_path), "classifier": chosen, **final_scores},
        "plots": plots,
        "seconds": time.perf_counter() - started,
        "device": str(device),
        "run_dir": str(run_dir),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
