"""Mahalanobis distance ``d(x, y) = sqrt((x - y)^T Sigma^{-1} (x - y))`` (smaller is closer).

Nothing here inverts a matrix. The distance keeps one lower-triangular Cholesky factor:

- of the covariance, ``Sigma = L L^T``: inputs are whitened by a triangular solve,
  ``z = L^{-1} x``, so ``d(x, y) = ||z_x - z_y||``;
- or of the precision, ``Sigma^{-1} = C C^T``: inputs are whitened by a product, ``z = C^T x``.

``MahalanobisDistance.fit`` estimates the covariance from data with shrinkage towards a scaled
identity, ``(1 - delta) S + delta * (trace(S) / D) * I``, where ``S`` is the maximum-likelihood
covariance and ``delta`` is either fixed or the Ledoit-Wolf estimate (O. Ledoit and M. Wolf, "A
well-conditioned estimator for large-dimensional covariance matrices", J. Multivariate Analysis
2004; the same formula as ``sklearn.covariance.ledoit_wolf_shrinkage``). Shrinkage keeps the
estimate positive definite when there are fewer samples than dimensions.
"""

from __future__ import annotations

from typing import Any

import torch

from contrastlab._checks import check_choice, check_float_tensor
from contrastlab.distances.base import (
    Distance,
    check_paired_inputs,
    check_pairwise_inputs,
    promote_half,
    safe_sqrt,
)
from contrastlab.distances.euclidean import squared_pairwise_by_expansion

PARAMETERIZATIONS = ("covariance", "precision")


def ledoit_wolf_shrinkage(data: torch.Tensor) -> torch.Tensor:
    """The Ledoit-Wolf shrinkage intensity ``delta`` in [0, 1] for ``data`` [N, D] (a 0-d tensor).

    With centred rows ``x_i``, ``S = X^T X / N`` and ``mu = trace(S) / D``:
    ``beta = (sum_i ||x_i||^4 / N - ||S||_F^2) / (N D)``, ``delta = ||S - mu I||_F^2 / D`` and the
    intensity is ``min(beta, delta) / delta`` (0 when ``S`` is already a multiple of I).
    """
    check_float_tensor("data", data, ndim=2)
    x = promote_half(data)
    n_samples, n_features = x.shape
    x = x - x.mean(dim=0)
    covariance = x.T @ x / n_samples
    mu = torch.diagonal(covariance).sum() / n_features
    frobenius_sq = covariance.pow(2).sum()
    beta = (x.pow(2).sum(dim=1).pow(2).sum() / n_samples - frobenius_sq) / (n_features * n_samples)
    delta = frobenius_sq - 2.0 * mu * torch.diagonal(covariance).sum() + n_features * mu**2
    delta = delta / n_features
    beta = torch.minimum(beta, delta)
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    return torch.where(delta > 0, beta / safe_delta, torch.zeros_like(delta)).clamp(0.0, 1.0)


def _shrinkage_intensity(data: torch.Tensor, shrinkage: float | str) -> torch.Tensor:
    if isinstance(shrinkage, str):
        check_choice("shrinkage", shrinkage, ("ledoit_wolf",))
        return ledoit_wolf_shrinkage(data)
    is_number = isinstance(shrinkage, (int, float)) and not isinstance(shrinkage, bool)
    if not (is_number and 0.0 <= shrinkage <= 1.0):
        raise ValueError(f"shrinkage must be 'ledoit_wolf' or in [0, 1], got {shrinkage!r}")
    return torch.tensor(float(shrinkage), dtype=torch.float64)


def shrunk_covariance(data: torch.Tensor, shrinkage: float | str = "ledoit_wolf") -> torch.Tensor:
    """``(1 - delta) S + delta (trace(S) / D) I`` for ``data`` [N, D] (N >= 2) -> [D, D].

    ``S`` is the maximum-likelihood (1/N) covariance; ``shrinkage`` is ``"ledoit_wolf"`` or a fixed
    ``delta`` in [0, 1].
    """
    check_float_tensor("data", data, ndim=2)
    if data.shape[0] < 2:
        raise ValueError(
            f"data needs at least 2 samples to estimate a covariance, got {data.shape[0]}"
        )
    delta = _shrinkage_intensity(data, shrinkage)
    x = promote_half(data)
    x = x - x.mean(dim=0)
    covariance = x.T @ x / x.shape[0]
    mu = torch.diagonal(covariance).mean()
    delta = delta.to(covariance)
    identity = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return (1.0 - delta) * covariance + delta * mu * identity


def cholesky_factor_of(matrix: torch.Tensor, name: str) -> torch.Tensor:
    """The lower Cholesky factor of a symmetric positive-definite ``matrix`` [D, D].

    Raises ValueError naming ``name`` when the matrix is not square, symmetric or positive definite.
    """
    check_float_tensor(name, matrix, ndim=2)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square [D, D] matrix, got shape {tuple(matrix.shape)}")
    tolerance = 1e-5 * float(matrix.abs().max()) + 1e-12
    if not torch.allclose(matrix, matrix.T, rtol=0.0, atol=tolerance):
        raise ValueError(f"{name} must be symmetric")
    factor, info = torch.linalg.cholesky_ex(promote_half(matrix))
    if int(info) != 0:
        raise ValueError(
            f"{name} is not positive definite (Cholesky failed at column {int(info)}); "
            "with few samples, estimate it with shrinkage > 0"
        )
    return factor


def _check_factor(cholesky_factor: torch.Tensor, n_features: int, parameterization: str) -> None:
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    check_float_tensor("cholesky_factor", cholesky_factor, ndim=2)
    if tuple(cholesky_factor.shape) != (n_features, n_features):
        raise ValueError(
            f"cholesky_factor must be [D, D] with D = {n_features} features, "
            f"got shape {tuple(cholesky_factor.shape)}"
        )


def whiten(
    x: torch.Tensor, cholesky_factor: torch.Tensor, parameterization: str = "covariance"
) -> torch.Tensor:
    """Map rows ``x`` [N, D] to ``z`` [N, D] with ``||z_i - z_j|| = d_Mahalanobis(x_i, x_j)``.

    ``cholesky_factor`` is the lower factor L of the covariance (``z = L^{-1} x``, by a triangular
    solve) or C of the precision (``z = C^T x``), as ``parameterization`` says. No input checks.
    """
    x = promote_half(x)
    factor = cholesky_factor.to(dtype=x.dtype)
    if parameterization == "precision":
        return x @ factor
    # Rows: z_i = L^{-1} x_i  <=>  Z L^T = X.
    return torch.linalg.solve_triangular(factor.T, x, upper=True, left=False)


def mahalanobis_pairwise(
    x: torch.Tensor,
    y: torch.Tensor,
    cholesky_factor: torch.Tensor,
    parameterization: str = "covariance",
) -> torch.Tensor:
    """``d_M(x_i, y_j)``; ``x`` [N, D], ``y`` [M, D], ``cholesky_factor`` [D, D] -> [N, M]."""
    check_pairwise_inputs(x, y)
    _check_factor(cholesky_factor, x.shape[1], parameterization)
    squared = squared_pairwise_by_expansion(
        whiten(x, cholesky_factor, parameterization), whiten(y, cholesky_factor, parameterization)
    )
    return safe_sqrt(squared)


def mahalanobis_paired(
    x: torch.Tensor,
    y: torch.Tensor,
    cholesky_factor: torch.Tensor,
    parameterization: str = "covariance",
) -> torch.Tensor:
    """``d_M(x_i, y_i)``; ``x``, ``y`` [N, D], ``cholesky_factor`` [D, D] -> [N]."""
    check_paired_inputs(x, y)
    _check_factor(cholesky_factor, x.shape[1], parameterization)
    difference = promote_half(x) - promote_half(y)
    return safe_sqrt(whiten(difference, cholesky_factor, parameterization).pow(2).sum(dim=1))


class MahalanobisDistance(Distance):
    """Mahalanobis distance from a given ``covariance`` or ``precision`` [D, D], or from ``fit``.

    Give at most one of ``covariance`` and ``precision``; with neither, call ``fit(data)`` before
    use. The Cholesky factor is the buffer ``cholesky_factor`` (it follows ``.to()`` and is in the
    ``state_dict``, together with which matrix it factors), so a fitted distance can be saved and
    loaded into a fresh ``MahalanobisDistance()``.
    """

    larger_is_closer = False
    cholesky_factor: torch.Tensor

    def __init__(
        self, covariance: torch.Tensor | None = None, precision: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        if covariance is not None and precision is not None:
            raise ValueError("give covariance or precision, not both")
        self.parameterization = "precision" if precision is not None else "covariance"
        if covariance is not None:
            factor = cholesky_factor_of(covariance, "covariance")
        elif precision is not None:
            factor = cholesky_factor_of(precision, "precision")
        else:
            factor = torch.empty(0, 0)
        self.register_buffer("cholesky_factor", factor)

    @property
    def is_fitted(self) -> bool:
        return self.cholesky_factor.numel() > 0

    @torch.no_grad()
    def fit(
        self, data: torch.Tensor, shrinkage: float | str = "ledoit_wolf"
    ) -> MahalanobisDistance:
        """Estimate the covariance of ``data`` [N, D] with shrinkage (see ``shrunk_covariance``).

        Replaces any covariance or precision given before; returns ``self``.
        """
        covariance = shrunk_covariance(data.detach(), shrinkage)
        self.cholesky_factor = cholesky_factor_of(covariance, "the estimated covariance")
        self.parameterization = "covariance"
        return self

    def _factor(self) -> torch.Tensor:
        if not self.is_fitted:
            raise ValueError(
                "MahalanobisDistance has no covariance: pass covariance= or precision=, "
                "or call fit(data) first"
            )
        return self.cholesky_factor

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return mahalanobis_pairwise(x, y, self._factor(), self.parameterization)

    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return mahalanobis_paired(x, y, self._factor(), self.parameterization)

    def get_extra_state(self) -> dict[str, Any]:
        return {"parameterization": self.parameterization}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        parameterization = state.get("parameterization")
        check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        self.parameterization = parameterization

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # A fresh (unfitted) distance has an empty [0, 0] buffer: adopt the saved shape so that a
        # fitted distance can be loaded into it.
        saved = state_dict.get(prefix + "cholesky_factor")
        if saved is not None and saved.shape != self.cholesky_factor.shape:
            self.cholesky_factor = torch.empty(
                saved.shape, dtype=saved.dtype, device=self.cholesky_factor.device
            )
        super()._load_from_state_dict(state_dict, prefix, *args)

    def extra_repr(self) -> str:
        if not self.is_fitted:
            return "unfitted"
        return f"dim={self.cholesky_factor.shape[0]}, parameterization={self.parameterization!r}"
