"""Distances and similarities between embeddings: ``pairwise`` [N, M] and ``paired`` [N].

Every class says whether larger values mean closer (``larger_is_closer``), so a loss can take any of
them. The pure functions underneath are exported too.
"""

from contrastlab.distances.base import Distance, resolve_distance, safe_sqrt
from contrastlab.distances.cosine import (
    CosineDistance,
    CosineSimilarity,
    cosine_similarity_paired,
    cosine_similarity_pairwise,
)
from contrastlab.distances.dot_product import (
    DotProductSimilarity,
    dot_product_paired,
    dot_product_pairwise,
)
from contrastlab.distances.euclidean import (
    EuclideanDistance,
    SquaredEuclideanDistance,
    euclidean_paired,
    euclidean_pairwise,
    squared_euclidean_paired,
    squared_euclidean_pairwise,
)
from contrastlab.distances.mahalanobis import (
    MahalanobisDistance,
    ledoit_wolf_shrinkage,
    mahalanobis_paired,
    mahalanobis_pairwise,
    shrunk_covariance,
    whiten,
)

__all__ = [
    "CosineDistance",
    "CosineSimilarity",
    "Distance",
    "DotProductSimilarity",
    "EuclideanDistance",
    "MahalanobisDistance",
    "SquaredEuclideanDistance",
    "cosine_similarity_paired",
    "cosine_similarity_pairwise",
    "dot_product_paired",
    "dot_product_pairwise",
    "euclidean_paired",
    "euclidean_pairwise",
    "ledoit_wolf_shrinkage",
    "mahalanobis_paired",
    "mahalanobis_pairwise",
    "resolve_distance",
    "safe_sqrt",
    "shrunk_covariance",
    "squared_euclidean_paired",
    "squared_euclidean_pairwise",
    "whiten",
]
