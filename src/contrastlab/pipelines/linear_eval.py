"""``contrastlab linear``: linear evaluation of a pretraining checkpoint (main_linear).

The classifier trains on the frozen encoder's features of the checkpoint's own data split; its
epoch is chosen on validation and the test split is scored once
(:func:`contrastlab.evaluation.checkpoint_evaluation.linear_evaluation`). The run directory
(default ``runs/<checkpoint's folder>-linear``) gets ``summary.json``, ``tsne_test.png`` and
``linear_metrics.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contrastlab.config.image import LinearConfig
from contrastlab.evaluation.checkpoint_evaluation import linear_evaluation, load_for_evaluation
from contrastlab.training.provenance import provenance
from contrastlab.training.run_directory import claimed_run, usable_run_path


def linear_eval(config: LinearConfig) -> dict[str, Any]:
    """Linear probe of ``config.ckpt`` (module docstring); returns the summary."""
    inputs = (config.ckpt, config.data_folder)
    path = usable_run_path(
        config.out, Path(config.ckpt).resolve().parent.name + "-linear", None,
        config.overwrite, inputs=inputs, resumable=False,
    )  # fmt: skip
    setup = load_for_evaluation(config)  # every check before the run directory is touched
    device = next(setup.model.parameters()).device
    with claimed_run(path, None, config.overwrite, inputs=inputs) as run:
        summary = linear_evaluation(config, setup, run.path)
        run.write_summary(summary, provenance(device, config.seed))
    return summary
