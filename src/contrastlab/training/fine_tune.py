"""Training a signal classifier on a (small) labelled subset: fine-tuning and from-scratch baseline.

Both use the same recipe through the shared loop (:func:`contrastlab.training.loop.fit` with
:class:`~contrastlab.methods.CrossEntropyMethod`): the encoder plus a fresh linear layer is
trained with cross-entropy on augmented labelled windows; the weights of the **last** epoch are
kept (no model selection on validation or test data). The only difference is the start: the
pretrained encoder (fine-tuning) or a freshly initialised one (the baseline).

A few-label subset holds as few as one window per class, so an "epoch" is defined by a number of
optimisation steps: the subset is tiled (each copy gets its own random augmentation) to
``steps_per_epoch * batch_size`` samples when it is smaller than that.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from contrastlab.config.signal import BearingConfig
from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods import CrossEntropyMethod
from contrastlab.models.signal_encoder import SignalEncoder
from contrastlab.models.signal_networks import SignalClassifier
from contrastlab.training.loop import fit
from contrastlab.training.rng import seed_everything


@dataclass
class FineTuneRecipe:
    """Options of :func:`train_classifier` (``--finetune_*`` on the command line)."""

    epochs: int = 8
    steps_per_epoch: int = 10
    batch_size: int = 32
    learning_rate: float = 0.01
    weight_decay: float = 1e-4
    device: str = "auto"
    precision: str = "auto"

    @classmethod
    def from_config(cls, config: BearingConfig) -> FineTuneRecipe:
        """The ``--finetune_*`` options of ``contrastlab bearing`` (and its weight decay,
        device and precision)."""
        return cls(
            epochs=config.finetune_epochs,
            steps_per_epoch=config.finetune_steps_per_epoch,
            batch_size=config.finetune_batch_size,
            learning_rate=config.finetune_learning_rate,
            weight_decay=config.weight_decay,
            device=config.device,
            precision=config.precision,
        )

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            cosine=True,
            save_freq=self.epochs + 1,  # only last.pth: no numbered copy of the final epoch
            print_freq=self.steps_per_epoch,
            precision=self.precision,
            seed=seed,
            device=self.device,
            progress=False,
        )


def tile_subset(train: LabeledTensors, target: int) -> LabeledTensors:
    """Repeat ``train`` (in order) until it holds at least ``target`` samples (no-op if larger)."""
    if len(train) == 0:
        raise ValueError("cannot train a classifier on an empty subset")
    repeats = max(1, math.ceil(target / len(train)))
    if repeats == 1:
        return train
    index = torch.arange(len(train)).repeat(repeats)
    return train.subset(index)


def train_classifier(
    encoder: SignalEncoder,
    num_classes: int,
    train: LabeledTensors,
    recipe: FineTuneRecipe,
    run_dir: Path,
    augment: nn.Module | None,
    seed: int,
) -> SignalClassifier:
    """Train ``copy(encoder)`` + a new linear layer on ``train`` with cross-entropy.

    ``encoder`` is deep-copied (the caller's stays untouched); the returned classifier is in eval
    mode. ``run_dir`` receives the loop's files (config, metrics, last checkpoint).
    """
    seed_everything(seed)
    classifier = SignalClassifier(copy.deepcopy(encoder).train(), num_classes)
    tiled = tile_subset(train, recipe.steps_per_epoch * recipe.batch_size)
    fit(
        classifier,
        CrossEntropyMethod(augment if augment is not None else nn.Identity()),
        tiled,
        recipe.train_config(seed),
        run_dir,
    )
    return classifier.eval()
