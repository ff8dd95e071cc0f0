"""``contrastlab pretrain``: SupCon, SimCLR or MoCo pretraining (main_supcon), then optionally a
linear evaluation into the same run directory.

The run directory holds ``config.yaml``, checkpoints (``last.pth``, ``ckpt_epoch_N.pth``),
``metrics.jsonl``, ``tensorboard/``, ``training_curves.png`` and ``summary.json``; with
``--linear`` also ``tsne_test.png`` and ``linear_metrics.jsonl``. A kNN monitor on the validation
split runs every ``--knn_every`` epochs (never on the test split; off with ``--val_size 0``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from contrastlab.config.image import LinearConfig, PretrainConfig
from contrastlab.data.image_augment import ContrastiveImageAugment, EvalImageTransform
from contrastlab.data.image_sources import load_image_source
from contrastlab.evaluation.checkpoint_evaluation import linear_evaluation, load_for_evaluation
from contrastlab.evaluation.features import encode_splits
from contrastlab.evaluation.knn import knn_accuracy
from contrastlab.evaluation.plots import plot_training_curves
from contrastlab.methods import ContrastiveViewsMethod, MoCoMethod
from contrastlab.models.image_network import (
    build_pretrain_network,
    check_images_fit,
    image_model_spec,
)
from contrastlab.training import distributed
from contrastlab.training.devices import resolve_device
from contrastlab.training.loop import fit
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.rng import seed_everything
from contrastlab.training.run_directory import claimed_run, usable_run_path


def _method(config: PretrainConfig, model: nn.Module, augment: nn.Module) -> nn.Module:
    """The "views -> loss" method of ``config.method`` for ``model`` (built and initialised)."""
    if config.method == "moco":
        return MoCoMethod(
            model,
            augment,
            feature_dim=config.feat_dim,
            queue_size=config.moco_queue_size,
            momentum=config.moco_momentum,
            temperature=config.temp,
            supervised=config.moco_supervised,
            seed=config.seed,
            shuffle_bn=config.moco_shuffle_bn,
            bn_splits=config.moco_bn_splits,
        )
    return ContrastiveViewsMethod(
        augment, method=config.method, temperature=config.temp, n_views=config.n_views
    )


def pretrain(config: PretrainConfig) -> dict[str, Any]:
    """Pretrain (module docstring); returns the summary (also in ``summary.json``)."""
    path = usable_run_path(
        config.out, f"{config.dataset}-{config.method}", bool(config.resume), config.overwrite
    )
    device = resolve_device(config.device)
    resumed = load_resume_checkpoint(config, device) if config.resume else None
    data = load_image_source(
        config.dataset, data_dir=config.data_folder, size=config.size, download=config.download,
        seed=config.seed, val_size=config.val_size,
    )  # fmt: skip
    spec = image_model_spec(
        config.model, config.stem, config.head, config.feat_dim, config.size, data.metadata,
        data.class_names, config.dataset, config.data_folder, config.seed,
    )  # fmt: skip
    seed_everything(config.seed)
    model = build_pretrain_network(spec)
    eval_transform = EvalImageTransform(config.size, spec["mean"], spec["std"])
    check_images_fit(model, data.train.inputs, eval_transform)
    augment = ContrastiveImageAugment(
        config.size, spec["mean"], spec["std"], scale=(config.crop_min_scale, 1.0),
        flip_p=config.flip_p,
    )  # fmt: skip
    method = _method(config, model, augment)

    def knn_monitor(trained: nn.Module, epoch: int) -> dict[str, float]:
        due = config.knn_every and (epoch % config.knn_every == 0 or epoch == config.epochs)
        if not due or len(data.val) == 0:  # --val_size 0: nothing to monitor (never test)
            return {}
        features = encode_splits(
            trained.encoder, data, config.eval_batch_size, ("train", "val"),
            eval_transform.to(device),
        )  # fmt: skip
        k = min(config.knn_k, len(data.train))
        top1 = knn_accuracy(
            features["train"], data.train.labels, features["val"], data.val.labels,
            data.num_classes, k=k,
        )  # fmt: skip
        return {"knn_val_top1": top1}

    with claimed_run(path, bool(config.resume), config.overwrite) as run:
        result = fit(
            model, method, data.train, config, run.path, evaluate=knn_monitor,
            checkpoint_extra={"model_spec": spec, "kind": "supcon"}, resume_checkpoint=resumed,
        )  # fmt: skip
        if not distributed.is_main_process():
            return {}
        summary: dict[str, Any] = {"method": config.method, "epochs": config.epochs}
        last = result.history[-1] if result.history else {}
        if last:
            summary["final_loss"] = last["loss"]
            summary.update({k: last[k] for k in ("knn_val_top1",) if k in last})
        plot_training_curves(run / "metrics.jsonl", run / "training_curves.png")
        if config.linear and result.last_checkpoint is not None:
            linear = LinearConfig(
                ckpt=str(result.last_checkpoint), out=str(run.path), seed=config.seed,
                device=config.device, threads=config.threads, progress=config.progress,
                epochs=config.linear_epochs, learning_rate=config.linear_learning_rate,
                batch_size=config.linear_batch_size, eval_batch_size=config.eval_batch_size,
            )  # fmt: skip
            setup = load_for_evaluation(linear, data)
            summary.update(linear_evaluation(linear, setup, run.path))
        run.write_summary(summary, provenance(device, config.seed))
    return summary
