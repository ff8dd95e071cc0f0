"""MoCo pretraining: a momentum key encoder and a queue of negatives (He et al., CVPR 2020;
MoCo v2: Chen et al. 2020, arXiv:2003.04297), optionally supervised (SupCon with a queue).

Each batch gives two views. The query q = f_q(view 0) comes from the trained network, the key
k = f_k(view 1) from its momentum copy, updated before each step as

    theta_k <- m * theta_k + (1 - m) * theta_q

Both are L2-normalised; s(u, v) = u . v / T. With the queue Q = {k_j, y_j} of the last K keys:

* unsupervised (MoCo v2): InfoNCE with the own key as positive and the queue as shared negatives::

      L_i = -log( exp s(q_i, k_i) / (exp s(q_i, k_i) + sum_j exp s(q_i, k_j)) )

* supervised (``supervised=True``): the positives of q_i are its own key and every queue entry
  with its label, P(i) = {k_i} + {j : y_j = y_i}; the denominator is unchanged (SupCon's L_out)::

      L_i = -[ (s(q_i, k_i) + sum_{j in P(i) - {k_i}} s(q_i, k_j)) / |P(i)|
               - log(exp s(q_i, k_i) + sum_j exp s(q_i, k_j)) ]

The loss is averaged over this rank's queries; then the keys of every rank (gathered, rank order)
replace the oldest queue entries. The queue starts as K random unit vectors with label -1 (never a
positive), as in MoCo. Queue, labels, pointer and key encoder are buffers of this module, so they
are saved in checkpoints (``method.state_dict()``) and restored on resume.

Under DDP the queries stay local: each rank's loss is the mean over its own queries, and DDP's
gradient average over equal per-rank batches gives the single-process gradient of the global batch.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_choice, check_int, check_temperature
from contrastlab._device_checks import require
from contrastlab.collectives import gather_no_grad
from contrastlab.data.views import view_maker
from contrastlab.losses._logsumexp import MEMORY_MODES
from contrastlab.losses.info_nce import info_nce
from contrastlab.losses.supervised_queue import supervised_queue_loss
from contrastlab.methods.contract import StepOutput, unwrap_model
from contrastlab.methods.shuffle_bn import shuffled_forward


class MoCoMethod(nn.Module):
    """MoCo v2 (``supervised=False``) or SupCon with a MoCo queue (``supervised=True``).

    Args:
        encoder: the network being trained (e.g. ``SupConResNet``), the same module ``fit`` gets;
            it is deep-copied into the momentum (key) encoder now, so build the method after the
            network's initialisation and before training.
        augment: batch augmentation [B, ...] -> [B, ...], random on each call (two views).
        feature_dim: D, the dimension of the encoder's output.
        queue_size: K, the number of queued keys (MoCo: 65536 on ImageNet, 4096 on CIFAR).
        momentum: m of the key encoder update, in [0, 1).
        temperature: T.
        supervised: use labels: queue entries of the same class are positives too.
        memory: memory mode of the [B, K] log-sum-exp ('auto', 'dense', 'blocked').
        seed: seeds the initial random queue (identical on every rank).
        shuffle_bn: compute the keys with MoCo's shuffling BN (see
            :mod:`contrastlab.methods.shuffle_bn`): under DDP the global batch is shuffled across
            ranks; in one process it takes effect with ``bn_splits`` > 1.
        bn_splits: in one process, encode the shuffled key batch in this many parts (each part
            is one batch-norm batch, as on that many GPUs).
        given_views: the batches hold their two views already, ``inputs [B, 2, ...]`` (crops cut
            by DataLoader workers), and ``augment`` is applied to each; else ``inputs [B, ...]``
            and the views are two draws of ``augment``.

    Shapes: ``forward(model, inputs [B, ...], labels [B]) -> StepOutput`` with ``loss`` the mean
    over the B queries and ``metrics['train_top1']`` the percentage of queries whose own key scores
    above every queue entry. Buffers: ``queue`` [K, D] float32, ``queue_labels`` [K] int64,
    ``queue_ptr`` [] int64 (next slot to write), and the key encoder's parameters and buffers.
    """

    def __init__(
        self,
        encoder: nn.Module,
        augment: nn.Module,
        feature_dim: int,
        queue_size: int = 4096,
        momentum: float = 0.999,
        temperature: float = 0.2,
        supervised: bool = False,
        memory: str = "auto",
        seed: int = 0,
        shuffle_bn: bool = True,
        bn_splits: int = 1,
        given_views: bool = False,
    ) -> None:
        super().__init__()
        sizes = (("feature_dim", feature_dim), ("queue_size", queue_size), ("bn_splits", bn_splits))
        for name, value in sizes:
            check_int(name, value)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        check_temperature("temperature", temperature)
        check_choice("memory", memory, MEMORY_MODES)
        self.views = view_maker(augment, 2, given_views)
        self.key_encoder = copy.deepcopy(unwrap_model(encoder))
        for parameter in self.key_encoder.parameters():
            parameter.requires_grad_(False)
        self.momentum = float(momentum)
        self.temperature = float(temperature)
        self.supervised = supervised
        self.memory = memory
        self.shuffle_bn = shuffle_bn
        self.bn_splits = bn_splits
        generator = torch.Generator().manual_seed(seed)
        queue = F.normalize(torch.randn(queue_size, feature_dim, generator=generator), dim=1)
        self.register_buffer("queue", queue)
        self.register_buffer("queue_labels", torch.full((queue_size,), -1, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def momentum_update(self, encoder: nn.Module) -> None:
        """theta_k <- m * theta_k + (1 - m) * theta_q for every parameter pair (in place)."""
        query_parameters = list(unwrap_model(encoder).parameters())
        key_parameters = list(self.key_encoder.parameters())
        if len(query_parameters) != len(key_parameters) or any(
            q.shape != k.shape for q, k in zip(query_parameters, key_parameters, strict=True)
        ):
            raise ValueError(
                "the model passed to MoCoMethod.forward does not have the architecture of the "
                "encoder the method was built with"
            )
        torch._foreach_lerp_(
            key_parameters, [q.detach() for q in query_parameters], 1.0 - self.momentum
        )

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        """Write ``keys`` [n, D] (and ``labels`` [n]) over the oldest entries, wrapping around.

        The buffers are replaced, not written in place: this step's loss graph still holds the
        queue it was computed with. The result equals enqueueing the keys one at a time (when
        n > K only the last K survive).
        """
        size, count = self.queue.shape[0], keys.shape[0]
        skipped = max(0, count - size)
        keys, labels = keys[skipped:], labels[skipped:]
        offsets = torch.arange(keys.shape[0], device=keys.device) + skipped
        slots = (self.queue_ptr + offsets) % size
        self.queue = self.queue.index_copy(0, slots, keys.to(self.queue.dtype))
        self.queue_labels = self.queue_labels.index_copy(0, slots, labels.to(torch.long))
        self.queue_ptr = (self.queue_ptr + count) % size

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        if labels.shape[0] != inputs.shape[0]:
            raise ValueError(f"got {labels.shape[0]} labels for {inputs.shape[0]} inputs")
        if self.supervised:
            require(
                labels >= 0, "supervised MoCo needs labels >= 0 (-1 marks unlabelled queue slots)"
            )
        views = self.views(inputs)
        query = model(views[:, 0])
        if query.dim() != 2 or query.shape[1] != self.queue.shape[1]:
            raise ValueError(
                f"the encoder gives {tuple(query.shape)}, expected [B, {self.queue.shape[1]}] "
                "(feature_dim)"
            )
        with torch.no_grad():
            self.momentum_update(model)
            if self.shuffle_bn:
                key = shuffled_forward(self.key_encoder, views[:, 1], self.bn_splits)
            else:
                key = self.key_encoder(views[:, 1])
            key = F.normalize(key.float(), dim=1)
        query = F.normalize(query.float(), dim=1)
        if self.supervised:
            per_query, own_key_wins = supervised_queue_loss(
                query, key, labels, self.queue, self.queue_labels, self.temperature, self.memory
            )
            loss, accuracy = per_query.mean(), own_key_wins.float().mean()
        else:
            loss, accuracy = info_nce(
                query,
                key,
                negative_keys=self.queue,
                temperature=self.temperature,
                normalize=False,
                return_accuracy=True,
                memory=self.memory,
            )
        self.enqueue(gather_no_grad(key), gather_no_grad(labels))
        return StepOutput(
            loss=loss, metrics={"train_top1": accuracy * 100}, batch_size=inputs.shape[0]
        )

    def extra_repr(self) -> str:
        return (
            f"queue_size={self.queue.shape[0]}, feature_dim={self.queue.shape[1]}, "
            f"momentum={self.momentum}, temperature={self.temperature}, "
            f"supervised={self.supervised}, memory={self.memory!r}, "
            f"shuffle_bn={self.shuffle_bn}, bn_splits={self.bn_splits}"
        )
