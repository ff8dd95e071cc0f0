"""Training methods: how one batch becomes a loss (``forward(model, inputs, labels)``).

Everything else (epochs, schedules, checkpoints, devices, DDP) is the shared loop's job
(:func:`contrastlab.training.loop.fit`).
"""

from contrastlab.methods.contrastive_views import ContrastiveViewsMethod
from contrastlab.methods.cpc import CPCMethod
from contrastlab.methods.cross_entropy import CrossEntropyMethod
from contrastlab.methods.moco import MoCoMethod
from contrastlab.methods.siamese import SiameseMethod, random_partners
from contrastlab.methods.ts2vec import TS2VecMethod

__all__ = [
    "CPCMethod",
    "ContrastiveViewsMethod",
    "CrossEntropyMethod",
    "MoCoMethod",
    "SiameseMethod",
    "TS2VecMethod",
    "random_partners",
]
