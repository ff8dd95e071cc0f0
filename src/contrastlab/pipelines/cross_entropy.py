"""``contrastlab ce``: the supervised cross-entropy baseline (main_ce).

Val top-1 is measured after every epoch and the loop keeps the best epoch's weights in ``best.pth``
(so a resumed run still knows them); the test split is scored once, at the end, with those
weights. With an empty validation split (``--val_size 0``) the last epoch's weights are scored
and ``val_top1`` is None.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from contrastlab.config.image import CEConfig
from contrastlab.data.image_augment import EvalImageTransform, SupervisedImageAugment
from contrastlab.data.image_sources import load_image_source
from contrastlab.evaluation.features import encode_splits
from contrastlab.evaluation.metrics import topk_accuracy
from contrastlab.evaluation.plots import plot_training_curves
from contrastlab.methods import CrossEntropyMethod
from contrastlab.models.image_network import build_ce_network, check_images_fit, image_model_spec
from contrastlab.training import distributed
from contrastlab.training.checkpoint import load_checkpoint
from contrastlab.training.devices import resolve_device
from contrastlab.training.loop import BEST_CHECKPOINT, best_epoch, fit
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.rng import seed_everything
from contrastlab.training.run_directory import claimed_run, usable_run_path


def train_ce(config: CEConfig) -> dict[str, Any]:
    """Train and score the cross-entropy baseline (module docstring); returns the summary."""
    path = usable_run_path(
        config.out,
        f"{config.dataset}-ce",
        config.resume,
        config.overwrite,
        inputs=(config.resume, config.data_folder),
    )
    device = resolve_device(config.device)
    resumed = load_resume_checkpoint(config, device) if config.resume else None
    data = load_image_source(
        config.dataset, data_dir=config.data_folder, size=config.size, download=config.download,
        seed=config.seed, val_size=config.val_size,
    )  # fmt: skip
    spec = image_model_spec(
        config.model, config.stem, "none", 0, config.size, data.metadata, data.class_names,
        config.dataset, config.data_folder, config.seed,
    )  # fmt: skip
    seed_everything(config.seed)
    model = build_ce_network(spec)
    eval_transform = EvalImageTransform(config.size, spec["mean"], spec["std"])
    check_images_fit(model, data.train.inputs, eval_transform)
    augment = SupervisedImageAugment(
        config.size, spec["mean"], spec["std"], scale=(config.crop_min_scale, 1.0),
        flip_p=config.flip_p,
    )  # fmt: skip
    has_val = len(data.val) > 0

    def logits(network: nn.Module, split: str) -> Any:
        transform = eval_transform.to(next(network.parameters()).device)
        return encode_splits(network, data, config.eval_batch_size, (split,), transform)[split]

    with claimed_run(
        path, config.resume, config.overwrite, inputs=(config.resume, config.data_folder)
    ) as run:

        def validate(trained: nn.Module, epoch: int) -> dict[str, float]:
            return {"val_top1": topk_accuracy(logits(trained, "val"), data.val.labels, ks=(1,))[0]}

        result = fit(
            model, CrossEntropyMethod(augment), data.train, config, run.path,
            evaluate=validate if has_val else None,
            checkpoint_extra={"model_spec": spec, "kind": "ce"}, resume_checkpoint=resumed,
            best_metric="val_top1" if has_val else None,
        )  # fmt: skip
        if not distributed.is_main_process():
            return {}
        best = best_epoch(result.history, "val_top1") if has_val else None
        if best is not None:
            model.load_state_dict(load_checkpoint(run / BEST_CHECKPOINT)["model"])
        test_top1, test_top5 = topk_accuracy(logits(model, "test"), data.test.labels, ks=(1, 5))
        plot_training_curves(run / "metrics.jsonl", run / "training_curves.png")
        summary = {
            "method": "ce",
            "val_top1": None if best is None else best["val_top1"],
            "best_epoch": config.epochs if best is None else best["epoch"],
            "test_top1": test_top1,
            "test_top5": test_top5,
        }
        run.write_summary(summary, provenance(device, config.seed))
    return summary
