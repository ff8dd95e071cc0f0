"""Help texts of the options generated from the configuration dataclasses.

:func:`help_text` looks an option up, most specific first:

1. ``COMMAND_HELP[command][name]``: where one command gives a field another meaning (``linear``
   reads ``--epochs`` as the classifier's) or another default (``ce``'s learning rate);
2. ``CONFIG_HELP[cls.__name__][name]`` for each class of the config's MRO (``UCRConfig``, then
   ``SignalConfig``): where the same field name means something different in two configurations;
3. ``OPTION_HELP[name]``: one text for an option that means the same in every command.

Command-line defaults are all None (the configuration's defaults apply, see
:mod:`contrastlab.cli.options`), so a text shows a default as ``default {default}``: ``{default}``
is replaced by the field's dataclass default of the command's configuration and ``{other_field}``
by that field's (booleans read ``on`` / ``off``, lists ``1,5,10``). Texts are plain text: a
literal brace is written ``{{`` / ``}}``; ``%`` needs no escaping.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from contrastlab.pipelines.ucr import TS2VEC_DEFAULTS

# ----------------------------------------------- one meaning wherever the option appears
OPTION_HELP: dict[str, str] = {
    # The shared training loop (TrainConfig).
    "epochs": "training epochs (default {default})",
    "batch_size": (
        "training batch per process (the global batch under torchrun is N times this); the last "
        "partial batch is dropped, a set smaller than one batch is one batch (default {default})"
    ),
    "learning_rate": "initial learning rate of the optimizer (default {default})",
    "lr_decay_epochs": (
        "comma-separated epochs after which the step schedule multiplies the learning rate by "
        "--lr_decay_rate (ignored with --cosine); default: 70, 80 and 90% of --epochs"
    ),
    "lr_decay_rate": (
        "decay factor in (0, 1] of each step; with --cosine the last epoch's rate is "
        "learning_rate * lr_decay_rate^3 (default {default})"
    ),
    "weight_decay": (
        "weight decay, >= 0: L2 added to the gradient with sgd, decoupled with adamw "
        "(default {default})"
    ),
    "momentum": "SGD momentum in [0, 1); adamw ignores it (default {default})",
    "optimizer": (
        "sgd (SupContrast's: momentum, L2 weight decay) or adamw (TS2Vec's: Adam with decoupled "
        "weight decay); the schedule sets the learning rate of either (default {default})"
    ),
    "cosine": (
        "cosine learning-rate decay to learning_rate * lr_decay_rate^3 instead of the step decay "
        "at --lr_decay_epochs (default {default})"
    ),
    "warm": (
        "linear learning-rate warm-up from --warmup_from over the first --warm_epochs epochs "
        "(default {default})"
    ),
    "warm_epochs": "epochs of the --warm warm-up, at most --epochs (default {default})",
    "warmup_from": "learning rate the --warm warm-up starts from (default {default})",
    "save_freq": (
        "save a checkpoint (ckpt_epoch_N.pth) every N epochs (last.pth every epoch) "
        "(default {default})"
    ),
    "print_freq": "refresh the progress bar's loss and lr every N steps (default {default})",
    "precision": (
        "32 (float32) | 16-mixed (float16 autocast with gradient scaling) | bf16-mixed "
        "(bfloat16 autocast) (default {default})"
    ),
    "syncBN": "synchronised batch norm under torchrun (default {default})",
    "seed": (
        "random seed of the data split, initialisation, batch order and augmentations "
        "(default {default})"
    ),
    "device": (
        "auto | cpu | cuda | cuda:N; auto takes this process's GPU when there is one "
        "(LOCAL_RANK under torchrun), else the CPU (default {default})"
    ),
    "out": "run directory (default runs/<name>)",
    "resume": "checkpoint (e.g. last.pth) to continue training from, with its optimizer and RNG",
    "progress": "show a progress bar per epoch (default {default})",
    "threads": (
        "PyTorch intra-op CPU threads (torch.set_num_threads); 0 keeps PyTorch's default "
        "(default {default})"
    ),
    # Evaluation.
    "eval_batch_size": (
        "batch size when encoding features or predicting for evaluation (no gradients) "
        "(default {default})"
    ),
    "probe_epochs": (
        "epochs of the linear probe on the frozen features, best epoch chosen on validation "
        "(default {default})"
    ),
    "tsne": "plot a t-SNE of the frozen test features (default {default})",
    # The image commands (ImageConfig).
    "stem": (
        "ResNet stem: cifar (3x3 conv, stride 1, no max-pool) | imagenet (7x7 stride-2 conv, "
        "max-pool); smallcnn takes cifar only; linear and knn take the checkpoint's "
        "(default {default})"
    ),
    "data_folder": (
        "data directory: the CIFAR python archives (cifar10, cifar100) or <class>/<image> "
        "folders (folder); unused by digits"
    ),
    "download": (
        "allow downloading a missing CIFAR archive into --data_folder (nothing else is ever "
        "downloaded) (default {default})"
    ),
    "val_size": (
        "CIFAR only: training images held out (stratified) for validation, default 5000; 0 "
        "trains on all 50000 and chooses nothing on validation (the last epoch is kept); linear "
        "and knn default to the checkpoint's value"
    ),
    "size": (
        "image side in pixels (images are resized to size x size); linear and knn on the "
        "checkpoint's data set take the checkpoint's (default {default})"
    ),
    "crop_min_scale": (
        "smallest area fraction in (0, 1] of the random resized crop (pretrain, ce) "
        "(default {default})"
    ),
    "flip_p": "horizontal-flip probability in [0, 1] (pretrain, ce) (default {default})",
    "moco_queue_size": "moco: queued keys K (default {default})",
    "moco_momentum": (
        "moco: momentum m in [0, 1) of the key encoder's moving average (default {default})"
    ),
    "moco_supervised": (
        "moco: queue entries of the anchor's class are positives too (SupCon with a MoCo queue; "
        "uses the labels) (default {default})"
    ),
    "moco_shuffle_bn": (
        "MoCo's shuffling BN: keys encoded on a shuffled batch (across processes under torchrun, "
        "in --moco_bn_splits parts in one process), then put back in order (default {default})"
    ),
    "moco_bn_splits": (
        "MoCo in one process: encode the shuffled key batch in N batch-norm batches, as N GPUs "
        "would (1: one batch, nothing to shuffle) (default {default})"
    ),
    "knn_every": (
        "pretrain: weighted-kNN accuracy on validation every N epochs and at the last "
        "(0: off) (default {default})"
    ),
    "knn_k": (
        "neighbours of the weighted kNN (cosine similarity; at most the training set size), "
        "for pretrain's monitor and knn (default {default})"
    ),
    "linear": (
        "pretrain: linear evaluation of the last checkpoint afterwards, into the same run "
        "directory (default {default})"
    ),
    "linear_epochs": (
        "epochs of the linear classifier (linear, pretrain --linear) (default {default})"
    ),
    "linear_learning_rate": (
        "learning rate of the linear classifier (linear, pretrain --linear) (default {default})"
    ),
    "linear_batch_size": (
        "batch size of the linear classifier (linear, pretrain --linear) (default {default})"
    ),
    "ckpt": (
        "linear, knn (required there): pretraining checkpoint to evaluate, contrastlab's or "
        "SupContrast's"
    ),
    # The signal commands (SignalConfig and its subclasses).
    "input": (
        "front-end before the backbone: raw (the windows as loaded) | standardize (each window "
        "and channel standardised on its own) | fft (log-magnitude spectrum, L/2 bins) | "
        "envelope (spectrum of the Hilbert envelope, L/2 bins) (default {default})"
    ),
    "margin": (
        "siamese: Hadsell's margin on the Euclidean distance of different-class pairs "
        "(default {default})"
    ),
    "augment": (
        "augment the simclr / supcon / siamese views (speed change, spectral tilt, circular "
        "shift, scaling, jitter, time and frequency masking); --no-augment drops every one "
        "(default {default})"
    ),
    "speed_change": (
        "largest relative shaft-speed change a of the views (windows resampled by "
        "s ~ U[1-a, 1+a]), in [0, 1); 0: off (default {default})"
    ),
    "tilt_db": (
        "standard deviation in dB of the views' smooth random spectral gain; 0: off "
        "(default {default})"
    ),
    "base_temp": (
        "simclr / supcon: the loss is scaled by temp / base_temp (SupContrast's convention); "
        "--base_temp equal to --temp gives NT-Xent proper (default {default})"
    ),
    "cpc_steps": "CPC: latent steps K predicted ahead (default {default})",
    "cpc_negatives": (
        "CPC: negatives per prediction, drawn from the batch's other latents (default {default})"
    ),
    "cpc_latent_dim": "CPC: channels of the encoder's latents z (default {default})",
    "cpc_context_dim": (
        "CPC: GRU context size, the dimension of the CPC features (default {default})"
    ),
    "ts2vec_hidden_dim": (
        "TS2Vec: width of the input projection and hidden blocks (default {default})"
    ),
    "ts2vec_repr_dim": (
        "TS2Vec: size of the timestamp representations, the features' dimension (default {default})"
    ),
    "ts2vec_depth": (
        "TS2Vec: hidden dilated residual blocks (dilations 1, 2, ..., 2^(depth-1)) "
        "(default {default})"
    ),
    "ts2vec_pyramid": (
        "TS2Vec: segment counts of the max pooling over time that gives the features; 1 is the "
        "paper's full-series maximum, 1,2,4,8 adds the halves, quarters and eighths (15 x "
        "--ts2vec_repr_dim features, keeps where a pattern occurs: +6 points on UCR ArrowHead, "
        "-15 on OSULeaf, see docs/bearing.md) (default {default})"
    ),
    "ts2vec_pooling": (
        "TS2Vec: fixed pools every level of --ts2vec_pyramid; cv keeps its leading levels "
        "(1, then 1,2, ...) that the SVM classifies best in cross-validation on the official "
        "training split (the C search's folds, leave-one-out under 50 series); a tie keeps "
        "fewer levels, and levels finer than the series are dropped (default {default})"
    ),
    "ts2vec_average": (
        "TS2Vec: encode with the average of the weights over all training steps, as TS2Vec's "
        "code does (measured worse with the loop's SGD, hence off) (default {default})"
    ),
    "window_length": "samples per window (cwru, bearing-sim) (default {default})",
    "stride": "samples between window starts (cwru, bearing-sim) (default {default})",
    "sim_samples": "samples per simulated recording (bearing-sim) (default {default})",
    # bearing (BearingConfig).
    "train_load": (
        "motor load in hp (0-3) of the recordings split into train / val / test (default {default})"
    ),
    "test_load": (
        "motor load in hp of the cross-load test set, not --train_load; -1: no cross-load test "
        "(default {default})"
    ),
    "label_scheme": (
        "10class (normal; inner race, ball, outer race @6 faults of 7, 14 and 21 mils) | "
        "4class (normal, inner_race, ball, outer_race, any size) (default {default})"
    ),
    "channels": (
        "comma-separated accelerometer channels: DE (drive end), FE (fan end), BA (base); "
        "bearing-sim has DE only (default {default})"
    ),
    "labels_per_class": (
        "comma-separated few-label budgets, labelled training windows per class; 100% of the "
        "labels is always evaluated too (default {default})"
    ),
    "n_draws": ("random stratified draws per budget (mean and std over them) (default {default})"),
    "finetune": (
        "fine-tune encoder + linear layer at every budget; model.pt is the classifier fine-tuned "
        "on all labels, else the linear probe (default {default})"
    ),
    "baseline": (
        "train the fine-tuning recipe from scratch at every budget, for comparison "
        "(default {default})"
    ),
    "baseline_model": (
        "backbone of the scratch baseline: same (the pretrained network's) | mlp | wdcnn | "
        "resnet1d | cpc | ts2vec (default {default})"
    ),
    "baseline_input": (
        "input of the scratch baseline: same (the pretrained network's) | raw | standardize | "
        "fft | envelope (default {default})"
    ),
    "finetune_epochs": "epochs of fine-tuning and of the scratch baseline (default {default})",
    "finetune_steps_per_epoch": (
        "at least N optimizer steps per fine-tuning epoch (a smaller labelled subset is repeated "
        "to N x --finetune_batch_size windows) (default {default})"
    ),
    "finetune_batch_size": (
        "batch size of fine-tuning and of the scratch baseline (default {default})"
    ),
    "finetune_learning_rate": (
        "initial learning rate of fine-tuning and of the scratch baseline, with cosine decay "
        "(default {default})"
    ),
    "probe_learning_rate": "learning rate of the linear probe (default {default})",
    "plots": (
        "draw the figures (confusion matrices, t-SNE, envelope spectra, curves); --no-tsne "
        "skips only the t-SNE (default {default})"
    ),
    # cpc (CPCConfig).
    "loads": (
        "comma-separated motor loads in hp of the recordings used (cwru, bearing-sim) "
        "(default {default})"
    ),
    # ucr (UCRConfig).
    "val_fraction": (
        "fraction in (0, 1) of the official training split held out (stratified) to choose the "
        "linear probe's epoch; pretraining and the SVM use the whole split (default {default})"
    ),
    "iters": (
        "optimizer steps of pretraining; > 0 replaces --epochs by the epochs that give at least "
        "that many steps; 0: --epochs (default {default})"
    ),
}

_SIGNAL_METHODS_HELP = (
    "pretraining method: simclr (views of a window are positives) | supcon (windows of a class "
    "are positives; uses the labels) | cpc (needs --model cpc or auto) | siamese (margin loss "
    "on same / different-class pairs; uses the labels) | ts2vec (needs --model ts2vec or auto "
    "and --input raw or standardize)"
)
_SIGNAL_MODELS_HELP = (
    "backbone after the --input front-end: auto | mlp (band energies + MLP) | wdcnn | resnet1d | "
    "cpc | ts2vec; auto: cpc / ts2vec for those methods, "
)


def format_default(value: Any) -> str:
    """A default as a help text shows it: ``on`` / ``off``, ``1,5,10`` for lists, ``0.0001``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(format_default(item) for item in value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return "none" if value is None else str(value)


def _flag(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    return f"--{name} {format_default(value)}"


# --------------------------------------------- one field name, another meaning per configuration
CONFIG_HELP: dict[str, dict[str, str]] = {
    "ImageConfig": {
        "method": (
            "pretraining method: supcon (images of a class are positives; uses the labels) | "
            "simclr (views of an image are positives) | moco (MoCo v2, see --moco_*) "
            "(default {default})"
        ),
        "model": (
            "encoder: resnet18 | resnet34 | resnet50 | resnet101 | smallcnn; linear and knn "
            "take the checkpoint's (default {default})"
        ),
        "dataset": (
            "digits (scikit-learn's bundled 8x8 digits) | cifar10 | cifar100 | folder "
            "(<class>/<image> under --data_folder) (default {default})"
        ),
        "temp": "loss temperature of pretraining (default {default})",
        "head": (
            "projection head: mlp (Linear-ReLU-Linear) | linear, to --feat_dim; linear and knn "
            "take the checkpoint's (default {default})"
        ),
        "feat_dim": (
            "output dimension of the projection head; linear and knn take the checkpoint's "
            "(default {default})"
        ),
        "n_views": (
            "augmented views per image, >= 2 for simclr (supcon, simclr) (default {default})"
        ),
        "warm": (
            "linear learning-rate warm-up from --warmup_from over the first --warm_epochs epochs; "
            "always on when --batch_size > 256, as in SupContrast (default {default})"
        ),
        "seed": (
            "random seed of the data split, initialisation, batch order and augmentations; "
            "linear and knn on the checkpoint's data set take the checkpoint's (default {default})"
        ),
        "out": (
            "run directory (default runs/<dataset>-<method> for pretrain, runs/<dataset>-ce for "
            "ce, runs/<checkpoint's directory>-linear for linear; knn writes none)"
        ),
    },
    "SignalConfig": {
        "method": _SIGNAL_METHODS_HELP + " (default {default})",
        "model": _SIGNAL_MODELS_HELP
        + "mlp for fft and envelope inputs, wdcnn for raw and standardize (default {default})",
        "epochs": "pretraining epochs (default {default})",
        "learning_rate": "initial learning rate of pretraining (default {default})",
        "temp": "loss temperature of simclr and supcon (default {default})",
        "head": (
            "projection head: mlp (Linear-ReLU-Linear) | linear, to --feat_dim (simclr, supcon, "
            "siamese) (default {default})"
        ),
        "feat_dim": (
            "output dimension of the projection head (simclr, supcon, siamese) (default {default})"
        ),
        "n_views": "augmented views per window, >= 2 (simclr, supcon) (default {default})",
    },
    "BearingConfig": {
        "source": (
            "cwru (CWRU .mat files under --data) | bearing-sim (simulated recordings) "
            "(default {default})"
        ),
        "data": (
            "folder of CWRU .mat files (--source cwru; default: $CONTRASTLAB_CWRU_DIR); none for "
            "bearing-sim"
        ),
        "augment": (
            "augment the simclr / supcon / siamese views and the fine-tuning and baseline batches "
            "(speed change, spectral tilt, circular shift, scaling, jitter, time and frequency "
            "masking); --no-augment drops every one (default {default})"
        ),
        "weight_decay": (
            "weight decay of pretraining (--optimizer) and of fine-tuning (SGD), >= 0 "
            "(default {default})"
        ),
        "tsne": (
            "plot t-SNEs of the frozen features (--no-plots skips every figure) (default {default})"
        ),
        "out": "run directory (default runs/bearing-<source>-<method>)",
    },
    "CPCConfig": {
        "source": (
            "cwru (CWRU .mat files under --data) | bearing-sim (simulated recordings) | ucr "
            "(--dataset) (default {default})"
        ),
        "data": (
            "cwru: folder of CWRU .mat files (default: $CONTRASTLAB_CWRU_DIR); ucr: folder of "
            "NAME_TRAIN.ts / NAME_TEST.ts files (default: the sets bundled with aeon); "
            "bearing-sim: none"
        ),
        "dataset": "UCR set of --source ucr, e.g. GunPoint, ArrowHead (default {default})",
        "out": "run directory (default runs/cpc-<source>, runs/cpc-<dataset> for ucr)",
    },
    "UCRConfig": {
        "method": (
            _SIGNAL_METHODS_HELP
            + "; ts2vec also sets "
            + " ".join(_flag(name, value) for name, value in TS2VEC_DEFAULTS.items())
            + " unless given (default {default})"
        ),
        "model": _SIGNAL_MODELS_HELP + "else resnet1d (default {default})",
        "dataset": "UCR / UEA set, e.g. GunPoint, ArrowHead, ItalyPowerDemand (default {default})",
        "data": (
            "folder of NAME_TRAIN.ts / NAME_TEST.ts (or NAME/ inside it); default: the sets "
            "bundled with aeon, others downloaded by aeon"
        ),
        "out": "run directory (default runs/ucr-<dataset>-<method>)",
    },
}

# ------------------------------------------------------- another meaning or default per command
COMMAND_HELP: dict[str, dict[str, str]] = {
    # cli/image.py's _ce resolves learning_rate 0.2 (main_ce's) below the config file.
    "ce": {"learning_rate": "initial SGD learning rate (default 0.2, main_ce's)"},
    # cli/image.py's _linear maps these three to the linear classifier's, as main_linear does.
    "linear": {
        "epochs": "epochs of the linear classifier, as --linear_epochs (default {linear_epochs})",
        "learning_rate": (
            "learning rate of the linear classifier, as --linear_learning_rate "
            "(default {linear_learning_rate})"
        ),
        "batch_size": (
            "batch size of the linear classifier, as --linear_batch_size "
            "(default {linear_batch_size})"
        ),
    },
}


@functools.cache
def _formatted_defaults(cls: type) -> dict[str, str]:
    instance = cls()  # the field defaults, as the command line starts from them
    return {
        field.name: format_default(getattr(instance, field.name))
        for field in dataclasses.fields(cls)
    }


def help_text(name: str, cls: type, command: str | None = None) -> str | None:
    """The help text of field ``name`` of configuration ``cls`` in ``command``, its defaults
    filled in (see the module docstring); None when no text covers it."""
    text = COMMAND_HELP.get(command or "", {}).get(name)
    for klass in cls.__mro__:
        if text is not None:
            break
        text = CONFIG_HELP.get(klass.__name__, {}).get(name)
    if text is None:
        text = OPTION_HELP.get(name)
    if text is None:
        return None
    defaults = _formatted_defaults(cls)
    return text.format_map({"default": defaults[name], **defaults})
