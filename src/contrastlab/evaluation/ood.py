"""Out-of-distribution (OOD) scoring for diagnosis: does a window look like the training windows?

A classifier gives every input a class, even a dead sensor's zeros, white noise or a recording at
the wrong sample rate. Before a verdict is trusted, each window is compared with the training
windows in the encoder's embedding space, following K. Lee, K. Lee, H. Lee and J. Shin, "A Simple
Unified Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018:

- **Fit** on training-window embeddings ``z_i`` ``[N, D]`` with labels ``y_i``: class means
  ``mu_k`` and one shared covariance ``Sigma`` of the class-centred embeddings ``z_i - mu_{y_i}``,
  shrunk towards a scaled identity (:func:`contrastlab.distances.mahalanobis.shrunk_covariance`,
  Ledoit-Wolf by default), kept as its Cholesky factor ``L`` (``Sigma = L L^T``).
- **Score** of an embedding ``z``: its Mahalanobis distance to the nearest class mean,
  ``s(z) = min_k sqrt((z - mu_k)^T Sigma^{-1} (z - mu_k)) = min_k ||L^{-1} (z - mu_k)||``.
- **Calibrate** on held-out in-distribution windows (e.g. the validation split; not the windows of
  the fit, whose scores are biased low): ``score_threshold`` is the ``score_quantile`` (0.99)
  quantile of their scores, so about ``1 - score_quantile`` (1 %) of in-distribution windows are
  called out of distribution; ``confidence_threshold`` is the ``confidence_quantile`` (0.01)
  quantile of their maximum softmax probabilities, so about 1 % of them are called not confident.
- **Decide** per window: *in distribution* when ``score <= score_threshold``, *confident* when
  ``confidence >= confidence_threshold``, *doubtful* when not in distribution or not confident.
  Per file: **uncertain** when the doubtful windows are *most* of the file, i.e. strictly more than
  ``max_doubtful_fraction`` (0.5) of its windows: a window counts once even when it is both out of
  distribution and not confident.

Statistics are fitted and applied in float64 (a float32 covariance of float32 features loses
digits); :meth:`OodDetector.to_dict` holds only tensors, lists, strings and floats, so it can be
stored in a ``model.pt`` that loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from contrastlab._checks import check_float_tensor, check_labels
from contrastlab.distances.mahalanobis import (
    cholesky_factor_of,
    mahalanobis_pairwise,
    shrunk_covariance,
)

OOD_FORMAT = "contrastlab-ood-1"
_KEYS = (
    "format",
    "class_means",
    "class_labels",
    "cholesky_factor",
    "shrinkage",
    "score_quantile",
    "score_threshold",
    "confidence_quantile",
    "confidence_threshold",
)


def _check_quantile(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def _check_confidences(confidences: torch.Tensor, count: int) -> None:
    check_float_tensor("confidences", confidences, ndim=1)
    if confidences.shape[0] != count:
        raise ValueError(f"got {confidences.shape[0]} confidences for {count} windows")
    if bool((confidences < 0).any()) or bool((confidences > 1).any()):
        raise ValueError("confidences must be probabilities in [0, 1]")


def fit_class_gaussians(
    embeddings: torch.Tensor, labels: torch.Tensor, shrinkage: float | str = "ledoit_wolf"
) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Class means and the shared covariance's Cholesky factor (module docstring).

    ``embeddings``: ``[N, D]`` (N >= 2); ``labels``: ``[N]`` integers (any values: each distinct
    value is a class, so one label for all, e.g. -1 for unlabelled windows, fits one Gaussian).
    Returns ``(class_means [K, D], class_labels [K] sorted, cholesky_factor [D, D])``, float64 on
    the embeddings' device. The covariance is the maximum-likelihood (1/N) one of the class-centred
    embeddings, shrunk as ``shrinkage`` says (``"ledoit_wolf"`` or a fixed value in [0, 1]).
    """
    check_float_tensor("embeddings", embeddings, ndim=2)
    labels = check_labels("labels", labels, embeddings.shape[0]).to(embeddings.device)
    if embeddings.shape[0] < 2:
        raise ValueError(f"need at least 2 embeddings to fit, got {embeddings.shape[0]}")
    data = embeddings.detach().double()
    class_labels, index = torch.unique(labels, sorted=True, return_inverse=True)
    counts = torch.bincount(index, minlength=len(class_labels)).to(data.dtype)
    means = torch.zeros(len(class_labels), data.shape[1], dtype=data.dtype, device=data.device)
    means = means.index_add_(0, index, data) / counts[:, None]
    covariance = shrunk_covariance(data - means[index], shrinkage)
    factor = cholesky_factor_of(covariance, "the shared covariance of the class-centred embeddings")
    return means, [int(c) for c in class_labels.tolist()], factor


def ood_scores(
    embeddings: torch.Tensor, class_means: torch.Tensor, cholesky_factor: torch.Tensor
) -> torch.Tensor:
    """``s(z) = min_k d_M(z, mu_k)`` for ``embeddings [M, D]`` -> ``[M]`` float64 (module
    docstring); ``class_means [K, D]``, ``cholesky_factor [D, D]`` of the covariance."""
    check_float_tensor("embeddings", embeddings, ndim=2)
    data = embeddings.detach().double()
    means = class_means.to(device=data.device, dtype=torch.float64)
    factor = cholesky_factor.to(device=data.device, dtype=torch.float64)
    return mahalanobis_pairwise(data, means, factor).min(dim=1).values


@dataclass(frozen=True)
class OodDetector:
    """A fitted and calibrated OOD detector (module docstring): plain tensors and numbers."""

    class_means: torch.Tensor
    class_labels: list[int]
    cholesky_factor: torch.Tensor
    shrinkage: float | str
    score_quantile: float
    score_threshold: float
    confidence_quantile: float
    confidence_threshold: float

    def scores(self, embeddings: torch.Tensor) -> torch.Tensor:
        """OOD scores ``[M]`` of ``embeddings [M, D]`` (:func:`ood_scores`)."""
        if embeddings.dim() == 2 and embeddings.shape[1] != self.class_means.shape[1]:
            raise ValueError(
                f"embeddings have {embeddings.shape[1]} features, the detector was fitted on "
                f"{self.class_means.shape[1]}"
            )
        return ood_scores(embeddings, self.class_means, self.cholesky_factor)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``torch.save`` / ``torch.load(weights_only=True)`` (CPU tensors)."""
        return {
            "format": OOD_FORMAT,
            "class_means": self.class_means.detach().cpu(),
            "class_labels": list(self.class_labels),
            "cholesky_factor": self.cholesky_factor.detach().cpu(),
            "shrinkage": self.shrinkage,
            "score_quantile": self.score_quantile,
            "score_threshold": self.score_threshold,
            "confidence_quantile": self.confidence_quantile,
            "confidence_threshold": self.confidence_threshold,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> OodDetector:
        """Rebuild from :meth:`to_dict`; ``ValueError`` for anything else."""
        if not isinstance(state, dict) or state.get("format") != OOD_FORMAT:
            raise ValueError(f"not a contrastlab OOD detector state (format {OOD_FORMAT!r})")
        missing = [key for key in _KEYS if key not in state]
        if missing:
            raise ValueError(f"the OOD detector state lacks {missing}")
        means, factor = state["class_means"], state["cholesky_factor"]
        check_float_tensor("class_means", means, ndim=2)
        check_float_tensor("cholesky_factor", factor, ndim=2)
        dim = means.shape[1]
        if tuple(factor.shape) != (dim, dim) or len(state["class_labels"]) != means.shape[0]:
            raise ValueError(
                f"inconsistent OOD detector state: class_means {tuple(means.shape)}, "
                f"{len(state['class_labels'])} class labels, cholesky_factor {tuple(factor.shape)}"
            )
        return cls(
            class_means=means,
            class_labels=[int(c) for c in state["class_labels"]],
            cholesky_factor=factor,
            shrinkage=state["shrinkage"],
            score_quantile=_check_quantile("score_quantile", state["score_quantile"]),
            score_threshold=float(state["score_threshold"]),
            confidence_quantile=_check_quantile(
                "confidence_quantile", state["confidence_quantile"]
            ),
            confidence_threshold=float(state["confidence_threshold"]),
        )


def fit_ood_detector(
    train_embeddings: torch.Tensor,
    train_labels: torch.Tensor,
    held_out_embeddings: torch.Tensor,
    held_out_confidences: torch.Tensor,
    score_quantile: float = 0.99,
    confidence_quantile: float = 0.01,
    shrinkage: float | str = "ledoit_wolf",
) -> OodDetector:
    """Fit on training windows, calibrate on held-out in-distribution windows (module docstring).

    ``train_embeddings [N, D]``, ``train_labels [N]``; ``held_out_embeddings [M, D]`` and their
    classifier's maximum softmax probabilities ``held_out_confidences [M]``. The quantiles are
    empirical (linear interpolation); with ``M`` held-out windows a quantile ``q`` rests on about
    ``M (1 - q)`` of them, so give ``M >> 1 / (1 - q)`` (thousands for 0.99).
    """
    score_quantile = _check_quantile("score_quantile", score_quantile)
    confidence_quantile = _check_quantile("confidence_quantile", confidence_quantile)
    check_float_tensor("held_out_embeddings", held_out_embeddings, ndim=2)
    _check_confidences(held_out_confidences, held_out_embeddings.shape[0])
    means, class_labels, factor = fit_class_gaussians(train_embeddings, train_labels, shrinkage)
    if held_out_embeddings.shape[1] != means.shape[1]:
        raise ValueError(
            f"held_out_embeddings have {held_out_embeddings.shape[1]} features, the training "
            f"embeddings {means.shape[1]}"
        )
    held_out_scores = ood_scores(held_out_embeddings, means, factor)
    confidences = held_out_confidences.detach().double().to(held_out_scores.device)
    return OodDetector(
        class_means=means,
        class_labels=class_labels,
        cholesky_factor=factor,
        shrinkage=shrinkage,
        score_quantile=score_quantile,
        score_threshold=float(torch.quantile(held_out_scores, score_quantile)),
        confidence_quantile=confidence_quantile,
        confidence_threshold=float(torch.quantile(confidences, confidence_quantile)),
    )


@dataclass(frozen=True)
class WindowDecisions:
    """Per window ``[M]`` booleans: ``in_distribution``, ``confident`` and ``doubtful`` (not in
    distribution or not confident)."""

    in_distribution: torch.Tensor
    confident: torch.Tensor

    @property
    def doubtful(self) -> torch.Tensor:
        return ~(self.in_distribution & self.confident)


def decide_windows(
    scores: torch.Tensor, confidences: torch.Tensor, detector: OodDetector
) -> WindowDecisions:
    """``score <= score_threshold`` and ``confidence >= confidence_threshold`` per window;
    ``scores``, ``confidences``: ``[M]``."""
    check_float_tensor("scores", scores, ndim=1)
    _check_confidences(confidences, scores.shape[0])
    return WindowDecisions(
        in_distribution=scores <= detector.score_threshold,
        confident=confidences >= detector.confidence_threshold,
    )


@dataclass(frozen=True)
class FileDecision:
    """A file's trust: ``uncertain`` when ``doubtful_fraction > max_doubtful_fraction``; the
    fractions of its ``n_windows`` windows that are out of distribution, not confident, and
    either (doubtful)."""

    uncertain: bool
    n_windows: int
    out_of_distribution_fraction: float
    low_confidence_fraction: float
    doubtful_fraction: float
    max_doubtful_fraction: float


def decide_file(
    scores: torch.Tensor,
    confidences: torch.Tensor,
    detector: OodDetector,
    max_doubtful_fraction: float = 0.5,
) -> FileDecision:
    """The per-file decision over its windows' ``scores`` and ``confidences`` ``[M]`` (module
    docstring: uncertain when strictly more than ``max_doubtful_fraction`` are doubtful)."""
    if not 0.0 <= max_doubtful_fraction < 1.0:
        raise ValueError(f"max_doubtful_fraction must be in [0, 1), got {max_doubtful_fraction}")
    windows = decide_windows(scores, confidences, detector)
    doubtful = float(windows.doubtful.double().mean())
    return FileDecision(
        uncertain=doubtful > max_doubtful_fraction,
        n_windows=int(scores.shape[0]),
        out_of_distribution_fraction=float((~windows.in_distribution).double().mean()),
        low_confidence_fraction=float((~windows.confident).double().mean()),
        doubtful_fraction=doubtful,
        max_doubtful_fraction=max_doubtful_fraction,
    )
