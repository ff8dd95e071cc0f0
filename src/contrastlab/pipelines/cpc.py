"""``contrastlab cpc``: CPC pretraining on a signal source, then linear evaluation.

The source is ``cwru`` (``--data DIR``), ``bearing-sim``, ``ucr`` (``--dataset NAME``, equal-length
sets only: CPC's convolutions cannot skip padding) or ``folder`` (the user's own recordings under
``--data DIR``, :mod:`contrastlab.data.signal_folder`). The CPC encoder
(:class:`contrastlab.models.cpc.CPC`, behind the ``--input`` front-end) is trained through the
shared loop with :class:`contrastlab.methods.CPCMethod`, which logs the per-step accuracy of
picking the true future latent among the random negatives. The frozen features (mean context) are
then scored by a linear probe (epoch chosen on validation, test scored once) and by L2 logistic
regression (``C`` chosen on validation); ``summary.json`` holds both, with the final CPC
accuracies, and ``tsne_test.png`` shows the test features.

**Unlabelled recordings** (``--source folder --labels none``): there are no classes to probe, so
the command pretrains on every window of every recording (no validation or test part is held
out) and writes the encoder (``last.pth``, with its ``model_spec``), ``training_curves.png`` and
a summary whose ``linear_probe`` / ``logistic_regression`` are null, with a ``note`` saying why.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from contrastlab.config.signal import CPCConfig
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.splits import DataSplits
from contrastlab.data.ucr import require_equal_lengths
from contrastlab.evaluation.features import encode_splits
from contrastlab.evaluation.linear_probe import (
    linear_probe,
    logistic_regression_probe,
    probe_splits,
)
from contrastlab.evaluation.plots import draw_run_figures, plot_training_curves
from contrastlab.models.signal_encoder import SignalEncoder
from contrastlab.training import distributed
from contrastlab.training.devices import resolve_device
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.run_directory import claimed_run, usable_run_path
from contrastlab.training.signal_pretraining import network_spec, pretrain_encoder


def load_source(config: CPCConfig) -> DataSplits:
    """The configured signal source as train / val / test windows ``[N, C, L]``; raises
    ValueError for a UCR set of unequal lengths (NaN padding the CPC encoder cannot mask)."""
    if config.source == "ucr":
        data = load_signal_source("ucr", config.data, dataset=config.dataset, seed=config.seed)
        require_equal_lengths(data, "cpc (its convolutions and GRU read every timestamp)")
        return data
    options: dict[str, Any] = {"window_length": config.window_length, "stride": config.stride}
    if config.source == "folder":
        options.update(config.folder_options())
        if not config.probes:  # nothing to evaluate: every window pretrains
            options["split_fractions"] = (1.0, 0.0, 0.0)
        return load_signal_source("folder", config.data, **options)
    options["loads"] = list(config.loads)
    if config.source == "bearing-sim":
        options.update(n_samples=config.sim_samples, seed=config.seed)
    return load_signal_source(config.source, config.data, **options)


def _source_facts(config: CPCConfig, data: DataSplits) -> dict[str, Any]:
    """What the summary records of a ``folder`` source (rate, recordings, skipped files)."""
    if config.source != "folder":
        return {}
    meta = data.metadata
    return {
        "data": meta["data_dir"],
        "labels": meta["labels"],
        "class_names": list(data.class_names),
        "sample_rate_hz": meta["sample_rate_hz"],
        "channels": meta["channels"],
        "recordings": len(meta["records"]),
        "skipped_files": meta["skipped_files"],
    }


def _probes(
    config: CPCConfig, encoder: SignalEncoder, data: DataSplits, run_dir: Path
) -> dict[str, Any]:
    """Linear probe and logistic regression on the frozen features, and the run's figures."""
    features = encode_splits(encoder, data, config.eval_batch_size, progress=config.progress)
    probe = probe_splits(linear_probe, features, data, epochs=config.probe_epochs, seed=config.seed)
    logistic = probe_splits(logistic_regression_probe, features, data, seed=config.seed)
    draw_run_figures(
        run_dir, features["test"], data.test.labels, data.class_names, config.seed,
        tsne=config.tsne, title="t-SNE of frozen CPC features (test)",
    )  # fmt: skip
    return {
        "linear_probe": probe.figures(),
        "logistic_regression": {
            "val_top1": logistic.val_top1,
            "test_top1": logistic.test_top1,
            "best_c": logistic.best_c,
        },
    }


def run_cpc(config: CPCConfig) -> dict[str, Any]:
    """CPC pretraining + linear evaluation (see the module docstring); returns the summary."""
    started = time.perf_counter()
    name = config.dataset if config.source == "ucr" else config.source
    path = usable_run_path(
        config.out,
        f"cpc-{name}",
        config.resume,
        config.overwrite,
        inputs=(config.resume, config.data),
    )
    device = resolve_device(config.device)
    resumed = load_resume_checkpoint(config, device) if config.resume else None
    if config.threads:
        torch.set_num_threads(config.threads)
    data = load_source(config)
    spec = network_spec(config, int(data.train.inputs.shape[1]), int(data.train.inputs.shape[2]))
    with claimed_run(
        path, config.resume, config.overwrite, inputs=(config.resume, config.data)
    ) as run:
        encoder, fit_result = pretrain_encoder(
            config, data.train, spec, run.path, resume_checkpoint=resumed
        )
        if not distributed.is_main_process():  # rank 0 evaluates and writes the run's files
            return {}
        last = fit_result.history[-1] if fit_result.history else {}
        summary: dict[str, Any] = {
            "method": "cpc",
            "source": config.source,
            "dataset": name,
            **_source_facts(config, data),
            "input": config.input,
            "spec": spec,
            "windows": {split: len(getattr(data, split)) for split in ("train", "val", "test")},
            "final_loss": last.get("loss"),
            "cpc_top1": {k: v for k, v in last.items() if k.startswith("cpc_top1")},
        }
        if config.probes:
            summary.update(_probes(config, encoder, data, run.path))
        else:
            plot_training_curves(run.path / "metrics.jsonl", run.path / "training_curves.png")
            summary.update(
                linear_probe=None,
                logistic_regression=None,
                note="unlabelled recordings (--labels none): no probe or t-SNE; the encoder is "
                "in last.pth (model_spec and weights), pretrained on every window",
            )
        summary.update(seconds=time.perf_counter() - started, run_dir=str(run.path))
        run.write_summary(summary, provenance(device, config.seed))
    return summary
