"""Bearing fault diagnosis with contrastive pretraining: ``contrastlab bearing``.

Protocol (one run directory holds everything), one named step each:

1. :func:`~contrastlab.data.bearing_data.load_bearing_data`: windows of the recordings at
   every load of ``--train_load`` (CWRU ``.mat`` files under ``--data``, the ``bearing-sim``
   simulator, or a ``folder`` of the user's recordings labelled by sub-folder), split by time
   inside each recording (train / val / test, no shared samples), standardised per channel with
   training statistics. With ``--test_load`` the recordings at that other motor load (another
   shaft speed) form the cross-load test set, cut whole into windows and standardised with the
   *training* statistics (classes without a training recording left out).
2. :func:`pretrain_encoder`: the encoder (input front-end + backbone,
   :mod:`contrastlab.models.signal_spec`) pretrained on the training windows with ``--method``.
   ``simclr`` and ``cpc`` never see a label; ``supcon`` and ``siamese`` use every training label
   (``summary.json`` says so).
3. :func:`evaluate_few_label`: at ``--labels_per_class`` (default 1, 5, 10, 20) and at 100 % of
   the training labels, each budget over ``--n_draws`` random stratified draws (mean and std), by
   (a) a linear probe on the frozen features (epoch chosen on the validation split), (b)
   fine-tuning encoder + linear layer, and (c) the baseline: the same recipe trained from
   scratch on the same labelled windows, with the same network (default) or another one
   (``--baseline_model wdcnn --baseline_input raw``: the classic supervised WDCNN). Every
   classifier is also scored on the cross-load set.
4. ``model.pt`` (:func:`save_diagnosis_model`): the classifier fine-tuned on all training labels
   (else the linear probe) with everything ``contrastlab diagnose`` needs, including its
   out-of-distribution calibration and the training shaft speeds; its accuracy, false-alarm and
   missed-detection rates and flagged fractions per window set
   (:mod:`contrastlab.evaluation.bearing_model`).
5. :func:`draw_bearing_figures`: confusion matrices, t-SNE of the frozen features, per-class
   envelope spectra with the bearing defect frequencies and their harmonics, training curves, the
   few-label and cross-load curves; and ``summary.json`` with every figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from contrastlab.config.choices import LABELLED_METHODS
from contrastlab.config.signal import BearingConfig
from contrastlab.data.bearing_data import (
    BearingData,
    data_summary,
    load_bearing_data,
    training_loads,
)
from contrastlab.data.splits import LabeledTensors
from contrastlab.evaluation.bearing_figures import (
    BearingFeatures,
    draw_bearing_figures,
    predict_classes,
)
from contrastlab.evaluation.bearing_model import calibrate_ood, judge_classifier, ood_thresholds
from contrastlab.evaluation.features import extract_features
from contrastlab.evaluation.few_label import run_few_label_protocol
from contrastlab.evaluation.linear_probe import linear_probe
from contrastlab.evaluation.metrics import accuracy
from contrastlab.models.diagnosis_model import save_diagnosis_model
from contrastlab.models.signal_encoder import SignalEncoder
from contrastlab.models.signal_networks import SignalClassifier
from contrastlab.models.signal_spec import build_signal_encoder
from contrastlab.training import distributed
from contrastlab.training.devices import resolve_device
from contrastlab.training.fine_tune import FineTuneRecipe, train_classifier
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.rng import seed_everything
from contrastlab.training.run_directory import claimed_run, usable_run_path
from contrastlab.training.signal_pretraining import network_spec, pretrain_encoder, views_augment

# ----------------------------------------------------------------------------------- 1. data


def encode_bearing_data(
    encoder: SignalEncoder, data: BearingData, batch_size: int, progress: bool
) -> BearingFeatures:
    """Frozen features of every split and of the cross-load set."""

    def run(inputs: torch.Tensor) -> torch.Tensor:
        return extract_features(encoder, inputs, batch_size=batch_size, progress=progress)

    splits = data.splits
    return BearingFeatures(
        train=run(splits.train.inputs),
        val=run(splits.val.inputs),
        test=run(splits.test.inputs),
        cross=None if data.cross is None else run(data.cross.inputs),
    )


# ------------------------------------------------------------------------------ 3. few labels


def score_classifier(
    model: torch.nn.Module, sets: dict[str, LabeledTensors], batch_size: int
) -> dict[str, float]:
    """Top-1 accuracy (%) of ``model`` on each named set."""
    return {
        name: accuracy(predict_classes(model, split.inputs, batch_size), split.labels)
        for name, split in sets.items()
    }


@dataclass
class FewLabelEvaluators:
    """The three few-label evaluators of step 3 over one run's data and features. Each is a
    ``fit_and_score(indices, draw) -> {"test", "cross_load"}`` for
    :func:`~contrastlab.evaluation.few_label.run_few_label_protocol`; the classifiers trained on
    every label are kept in ``all_labels`` (one of them becomes ``model.pt``)."""

    config: BearingConfig
    data: BearingData
    features: BearingFeatures
    encoder: SignalEncoder
    run_dir: Path
    all_labels: dict[str, SignalClassifier] = field(default_factory=dict)

    def linear_probe(self, indices: torch.Tensor, draw: int) -> dict[str, float]:
        splits, features = self.data.splits, self.features
        result = linear_probe(
            features.train[indices], splits.train.labels[indices], features.val,
            splits.val.labels, features.test, splits.test.labels,
            num_classes=splits.num_classes, epochs=self.config.probe_epochs,
            learning_rate=self.config.probe_learning_rate, seed=self.config.seed,
        )  # fmt: skip
        classifier = result.classifier
        if classifier is None:
            raise ValueError("the linear probe returned no classifier")
        scores = {"test": result.test_top1}
        if features.cross is not None and self.data.cross is not None:
            logits = classifier(features.cross.to(classifier.weight.device))
            scores["cross_load"] = accuracy(logits.argmax(dim=1).cpu(), self.data.cross.labels)
        if indices.numel() == len(splits.train):
            probe_model = SignalClassifier(self.encoder, splits.num_classes)
            probe_model.classifier.load_state_dict(classifier.state_dict())
            self.all_labels["linear_probe"] = probe_model.eval()
        return scores

    def trainer(self, start: SignalEncoder, kind: str) -> Callable[[torch.Tensor, int], dict]:
        """Fine-tuning of ``start`` (``kind``: fine_tune or scratch_baseline) on the subset."""
        config, splits = self.config, self.data.splits
        recipe = FineTuneRecipe.from_config(config)
        augment = views_augment(config, int(splits.train.inputs.shape[2]))

        def fit_and_score(indices: torch.Tensor, draw: int) -> dict[str, float]:
            name = f"{indices.numel():05d}labels_draw{draw}"
            model = train_classifier(
                start, splits.num_classes, splits.train.subset(indices), recipe,
                self.run_dir / kind / name, augment, config.seed,
            )  # fmt: skip
            if indices.numel() == len(splits.train):
                self.all_labels[kind] = model
            return score_classifier(model, self.data.test_sets, config.eval_batch_size)

        return fit_and_score


def _protocol(
    config: BearingConfig,
    labels: torch.Tensor,
    fit_and_score: Callable[[torch.Tensor, int], dict],
    description: str,
) -> dict[str, dict[str, Any]]:
    n_runs = len(config.labels_per_class) * config.n_draws + 1
    with tqdm(total=n_runs, desc=description, disable=None if config.progress else True) as bar:

        def on_score(n_labeled: int, scores: dict[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(labels=n_labeled, test=f"{scores['test']:.1f}")

        return run_few_label_protocol(
            labels, fit_and_score, [*config.labels_per_class, None], config.n_draws,
            config.seed, on_score=on_score,
        )  # fmt: skip


def evaluate_few_label(
    config: BearingConfig, evaluators: FewLabelEvaluators, baseline_spec: dict[str, Any]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Step 3: the few-label tables of the linear probe, fine-tuning and the scratch baseline."""
    labels = evaluators.data.splits.train.labels
    tables = {"linear_probe": _protocol(config, labels, evaluators.linear_probe, "linear probe")}
    if config.finetune:
        fine_tune = evaluators.trainer(evaluators.encoder, "fine_tune")
        tables["fine_tune"] = _protocol(config, labels, fine_tune, "fine-tune")
    if config.baseline:
        seed_everything(config.seed + 7)
        scratch = evaluators.trainer(build_signal_encoder(baseline_spec), "scratch_baseline")
        tables["scratch_baseline"] = _protocol(config, labels, scratch, "scratch baseline")
    return tables


def _mean_score(entry: dict[str, Any], score: str) -> float | None:
    """Mean of ``score`` ('test' or 'cross_load') in one few-label table entry."""
    if score == "test":
        return entry["mean"]
    return entry[score]["mean"] if score in entry else None


def compare_with_scratch(
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


# ------------------------------------------------------------------------------- 5. summary


# ------------------------------------------------------------------------------------ the run


@dataclass
class DiagnosisModelStep:
    """Step 4's outcome: which classifier became ``model.pt``, where, and how it judges each set
    (accuracy, detection rates, doubtful windows) with its calibrated thresholds."""

    chosen: str
    classifier: SignalClassifier
    path: Path
    judged: dict[str, dict[str, Any]]
    thresholds: dict[str, Any]


def save_diagnosis_step(
    config: BearingConfig, data: BearingData, evaluators: FewLabelEvaluators, spec: dict,
    run_dir: Path,
) -> DiagnosisModelStep:  # fmt: skip
    """Step 4: the classifier fine-tuned on every label (else the linear probe), its OOD
    detector calibrated on the validation windows, judged on every set and saved as ``model.pt``."""
    chosen = "fine_tune" if "fine_tune" in evaluators.all_labels else "linear_probe"
    final = evaluators.all_labels[chosen].cpu().eval()
    detector = calibrate_ood(final, data.splits, config)
    judged = judge_classifier(
        final, detector, {"val": data.splits.val, **data.test_sets}, data.splits.class_names,
        config.eval_batch_size,
    )  # fmt: skip
    trained_on = {
        "source": config.source, "load_hp": training_loads(config), "method": config.method,
        "classifier": chosen, "test_top1": judged["test"]["accuracy"],
    }  # fmt: skip
    path = save_diagnosis_model(
        run_dir / "model.pt", final, spec, trained_on=trained_on, ood=detector.to_dict(),
        **data.facts,
    )  # fmt: skip
    return DiagnosisModelStep(chosen, final, path, judged, ood_thresholds(detector))


def bearing_summary(
    config: BearingConfig,
    data: BearingData,
    history: list[dict[str, Any]],
    pretrain_seconds: float,
    few_label: dict[str, dict[str, dict[str, Any]]],
    baseline_spec: dict[str, Any],
    model: DiagnosisModelStep,
    plots: dict[str, Any],
) -> dict[str, Any]:
    """Step 5's ``summary.json`` (without timing and provenance, added by the run)."""
    scores = {name: model.judged[name]["accuracy"] for name in data.test_sets}
    return {
        "method": config.method,
        "model": config.backbone,
        "input": config.input,
        "data": data_summary(data, config),
        "pretraining": {
            "epochs": config.epochs,
            "uses_labels": config.method in LABELLED_METHODS,
            "final_loss": history[-1]["loss"] if history else None,
            "final_metrics": history[-1] if history else None,
            "seconds": pretrain_seconds,
        },
        "few_label": few_label,
        "pretraining_vs_scratch": compare_with_scratch(few_label) if config.baseline else {},
        "scratch_baseline": (
            {"model": baseline_spec["backbone"], "input": baseline_spec["input"]}
            if config.baseline
            else None
        ),
        "model_pt": {
            "path": str(model.path),
            "classifier": model.chosen,
            **scores,
            "sets": model.judged,
            "ood": model.thresholds,
        },
        "plots": plots,
    }


def run_bearing(config: BearingConfig) -> dict[str, Any]:
    """Run the protocol of the module docstring, step by step; return the summary (also in
    ``summary.json``). Everything that can be checked is checked before the run directory is
    claimed; under torchrun rank 0 evaluates and writes after the shared pretraining."""
    started = time.perf_counter()
    path = usable_run_path(
        config.out, f"bearing-{config.source}-{config.method}", config.resume, config.overwrite,
        inputs=(config.resume, config.data),
    )  # fmt: skip
    device = resolve_device(config.device)
    resumed = load_resume_checkpoint(config, device) if config.resume else None
    if config.threads:
        torch.set_num_threads(config.threads)
    data = load_bearing_data(config)
    in_channels, window_length = (int(n) for n in data.splits.train.inputs.shape[1:])
    spec = network_spec(config, in_channels, window_length)
    baseline_spec = network_spec(
        config, in_channels, window_length,
        backbone=None if config.baseline_model == "same" else config.baseline_model,
        input_name=None if config.baseline_input == "same" else config.baseline_input,
    )  # fmt: skip
    build_signal_encoder(baseline_spec)  # fails now, not after pretraining, if windows are short
    with claimed_run(
        path, config.resume, config.overwrite, inputs=(config.resume, config.data)
    ) as run:
        pretrain_started = time.perf_counter()
        encoder, fit_result = pretrain_encoder(
            config, data.splits.train, spec, run.path,
            checkpoint_extra={"data_facts": data.facts}, resume_checkpoint=resumed,
        )  # fmt: skip
        pretrain_seconds = time.perf_counter() - pretrain_started
        if not distributed.is_main_process():
            return {}
        features = encode_bearing_data(encoder, data, config.eval_batch_size, config.progress)
        evaluators = FewLabelEvaluators(config, data, features, encoder, run.path)
        few_label = evaluate_few_label(config, evaluators, baseline_spec)
        model = save_diagnosis_step(config, data, evaluators, spec, run.path)
        plots = (
            draw_bearing_figures(
                config, run.path, data.splits, data.cross, features, model.classifier, few_label
            )
            if config.plots
            else {}
        )
        summary = bearing_summary(
            config, data, fit_result.history, pretrain_seconds, few_label, baseline_spec, model,
            plots,
        )  # fmt: skip
        summary.update(
            seconds=time.perf_counter() - started, device=str(device), run_dir=str(run.path)
        )
        run.write_summary(summary, provenance(device, config.seed))
    return summary
