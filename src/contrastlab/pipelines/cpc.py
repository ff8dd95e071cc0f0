"""``contrastlab cpc``: CPC pretraining on a signal source, then linear evaluation.

The source is ``cwru`` (``--data DIR``), ``bearing-sim`` or ``ucr`` (``--dataset NAME``, needs
aeon). The CPC encoder (:class:`contrastlab.models.cpc.CPC`, behind the ``--input`` front-end)
is trained through the shared loop with :class:`contrastlab.methods.CPCMethod`, which logs the
per-step accuracy of picking the true future latent among the random negatives. The frozen
features (mean context) are then scored by a linear probe (epoch chosen on validation, test scored
once) and by L2 logistic regression (``C`` chosen on validation); ``summary.json`` holds both, with
the final CPC accuracies, and ``tsne_test.png`` shows the test features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from contrastlab._checks import check_choice
from contrastlab.data.signal_sources import SIGNAL_SOURCES, check_source_data, load_signal_source
from contrastlab.data.splits import DataSplits
from contrastlab.evaluation.features import encode_splits
from contrastlab.evaluation.linear_probe import (
    linear_probe,
    logistic_regression_probe,
    probe_splits,
)
from contrastlab.pipelines.signal_pretrain import (
    SignalConfig,
    pretrain_encoder,
    probe_figures,
    write_run_outputs,
)


@dataclass
class CPCConfig(SignalConfig):
    """Options of ``contrastlab cpc`` (``--method`` is always ``cpc``)."""

    method: str = "cpc"
    input: str = "standardize"
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.05
    cosine: bool = True
    source: str = "cwru"
    data: str | None = None
    dataset: str = "GunPoint"
    loads: list[int] = field(default_factory=lambda: [0])
    window_length: int = 2048
    stride: int = 1024
    sim_samples: int = 60_000
    probe_epochs: int = 100

    def validate(self) -> None:
        super().validate()
        if self.method != "cpc":
            raise ValueError("contrastlab cpc trains with --method cpc only")
        check_choice("--source", self.source, SIGNAL_SOURCES)
        check_source_data(self.source, self.data)
        if self.window_length < 1 or self.stride < 1 or self.probe_epochs < 1:
            raise ValueError("--window_length, --stride and --probe_epochs must be >= 1")


def load_source(config: CPCConfig) -> DataSplits:
    """The configured signal source as train / val / test windows ``[N, C, L]``."""
    if config.source == "ucr":
        return load_signal_source("ucr", config.data, dataset=config.dataset, seed=config.seed)
    options: dict[str, Any] = {
        "loads": list(config.loads),
        "window_length": config.window_length,
        "stride": config.stride,
    }
    if config.source == "bearing-sim":
        options.update(n_samples=config.sim_samples, seed=config.seed)
    return load_signal_source(config.source, config.data, **options)


def run_cpc(config: CPCConfig) -> dict[str, Any]:
    """CPC pretraining + linear evaluation (see the module docstring); returns the summary."""
    started = time.perf_counter()
    config.validate()
    config.apply_threads()
    data = load_source(config)
    name = config.dataset if config.source == "ucr" else config.source
    run_dir = config.run_dir(f"cpc-{name}")
    spec = config.network_spec(int(data.train.inputs.shape[1]), int(data.train.inputs.shape[2]))
    encoder, fit_result = pretrain_encoder(config, data.train, spec, run_dir)
    features = encode_splits(encoder, data, config.eval_batch_size, progress=config.progress)
    probe = probe_splits(linear_probe, features, data, epochs=config.probe_epochs, seed=config.seed)
    logistic = probe_splits(logistic_regression_probe, features, data, seed=config.seed)
    last = fit_result.history[-1] if fit_result.history else {}
    summary = {
        "method": "cpc",
        "source": config.source,
        "dataset": name,
        "input": config.input,
        "spec": spec,
        "windows": {split: len(getattr(data, split)) for split in ("train", "val", "test")},
        "final_loss": last.get("loss"),
        "cpc_top1": {k: v for k, v in last.items() if k.startswith("cpc_top1")},
        "linear_probe": probe_figures(probe),
        "logistic_regression": {
            "val_top1": logistic.val_top1,
            "test_top1": logistic.test_top1,
            "best_c": logistic.best_c,
        },
        "seconds": time.perf_counter() - started,
        "run_dir": str(run_dir),
    }
    write_run_outputs(
        run_dir, config, summary, features["test"], data.test.labels, data.class_names,
        title="t-SNE of frozen CPC features (test)",
    )  # fmt: skip
    return summary
