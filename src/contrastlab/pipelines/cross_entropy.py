"""``contrastlab ce``: the supervised cross-entropy baseline (main_ce).

Val top-1 is measured after every epoch and the best epoch's weights are kept in ``best.pth``
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
from contrastlab.training.checkpoint import load_checkpoint, save_checkpoint
from contrastlab.training.devices import resolve_device
from contrastlab.training.loop import fit
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.rng import seed_everything
from contrastlab.training.run_directory import claimed_run, usable_run_path

BEST_CHECKPOINT = "best.pth"


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
    best: dict[str, Any] = (
        {"val_top1": -1.0, "epoch": None} if has_val else {"val_top1": None, "epoch": config.epochs}
    )

    def logits(network: nn.Module, split: str) -> Any:
        transform = eval_transform.to(next(network.parameters()).device)
        return encode_splits(network, data, config.eval_batch_size, (split,), transform)[split]

    with claimed_run(
        path, config.resume, config.overwrite, inputs=(config.resume, config.data_folder)
    ) as run:
        best_path = run / BEST_CHECKPOINT
        if has_val and config.resume and best_path.is_file():
            previous = load_checkpoint(best_path)
            best.update(val_top1=previous["val_top1"], epoch=previous["epoch"])

        def validate(trained: nn.Module, epoch: int) -> dict[str, float]:
            top1 = topk_accuracy(logits(trained, "val"), data.val.labels, ks=(1,))[0]
            if top1 > best["val_top1"]:
                best.update(val_top1=top1, epoch=epoch)
                state = {"model": trained.state_dict(), "epoch": epoch, "val_top1": top1}
                save_checkpoint(best_path, {**state, "model_spec": spec, "kind": "ce"})
            return {"val_top1": top1}

        fit(
            model, CrossEntropyMethod(augment), data.train, config, run.path,
            evaluate=validate if has_val else None,
            checkpoint_extra={"model_spec": spec, "kind": "ce"}, resume_checkpoint=resumed,
        )  # fmt: skip
        if not distributed.is_main_process():
            return {}
        if has_val and best_path.is_file():
            model.load_state_dict(load_checkpoint(best_path)["model"])
        test_top1, test_top5 = topk_accuracy(logits(model, "test"), data.test.labels, ks=(1, 5))
        plot_training_curves(run / "metrics.jsonl", run / "training_curves.png")
        summary = {
            "method": "ce",
            "val_top1": best["val_top1"],
            "best_epoch": best["epoch"],
            "test_top1": test_top1,
            "test_top5": test_top5,
        }
        run.write_summary(summary, provenance(device, config.seed))
    return summary
