"""The constant-memory ('blocked') path of the softmax losses, and the losses under mixed precision.

* Blocked equals dense (loss and gradient, float32, within 1e-5) for NT-Xent, InfoNCE and SupCon,
  with blocks and tiles made small so that many of them (and ragged last ones) are exercised.
* The kernel's routes against a float64 reference: exact row blocks (every device), the CPU's
  symmetric tiles (anchors a multiple of the contrast vectors, used from
  ``SYMMETRIC_TILES_MIN_ROWS`` rows: the ``tiles`` fixture lowers that to 1) and their exact
  fallback for rows far below their shift (tiny temperatures).
* 'blocked' never materialises an [N, N] tensor; 'auto' chooses by size.
* fp16 / bf16 features under CPU autocast at T = 0.05 give finite losses and gradients, computed
  in float32.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from contrastlab.losses import _logsumexp, contrast_logsumexp, info_nce, ntxent_loss, supcon_loss
from contrastlab.losses._logsumexp import _is_symmetric
from contrastlab.losses._symmetric_tiles import tile_elements, upper_tiles


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of ~64 similarities and 8 x 8 tiles: many blocks even for tiny batches."""
    monkeypatch.setattr(_logsumexp, "_BLOCK_ELEMENTS", 64)
    monkeypatch.setattr(_logsumexp, "_TILE_ELEMENTS", 64)


@pytest.fixture(params=[False, True], ids=["rows", "tiles"])
def tiles(request, monkeypatch):
    """Run the test with the exact row routes and again with the CPU's symmetric tiles."""
    if request.param:
        monkeypatch.setattr(_logsumexp, "SYMMETRIC_TILES_MIN_ROWS", 1)
    return request.param


def features(batch, views, dim=16, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(batch, views, dim, generator=generator, dtype=dtype), dim=-1)


def loss_and_grad(loss_fn, *inputs):
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    loss = loss_fn(*leaves)
    loss.backward()
    return loss.detach(), [x.grad for x in leaves]


def assert_blocked_equals_dense(loss_fn, *inputs):
    dense = loss_and_grad(lambda *x: loss_fn(*x, memory="dense"), *inputs)
    blocked = loss_and_grad(lambda *x: loss_fn(*x, memory="blocked"), *inputs)
    torch.testing.assert_close(blocked[0], dense[0], rtol=1e-5, atol=1e-5)
    for got, expected in zip(blocked[1], dense[1], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 0.1, 0.05])
def test_ntxent_blocked_equals_dense(small_blocks, tiles, temperature):
    x = features(37, 2, seed=1)
    assert_blocked_equals_dense(
        lambda f, memory: ntxent_loss(f, temperature=temperature, memory=memory), x
    )


@pytest.mark.parametrize("negatives", ["in-batch", "shared"])
def test_info_nce_blocked_equals_dense(small_blocks, negatives):
    generator = torch.Generator().manual_seed(2)
    query, key = torch.randn(29, 16, generator=generator), torch.randn(29, 16, generator=generator)
    queue = torch.randn(45, 16, generator=generator)
    if negatives == "in-batch":
        assert_blocked_equals_dense(
            lambda q, k, memory: info_nce(q, k, temperature=0.1, memory=memory), query, key
        )
    else:
        assert_blocked_equals_dense(
            lambda q, k, n, memory: info_nce(q, k, n, temperature=0.1, memory=memory),
            query,
            key,
            queue,
        )


@pytest.mark.parametrize("contrast_mode", ["all", "one"])
@pytest.mark.parametrize("supervision", ["labels", "mask", "none"])
def test_supcon_blocked_equals_dense(small_blocks, tiles, contrast_mode, supervision):
    x = features(33, 3, seed=3)
    labels = torch.arange(33) % 5
    mask = (torch.rand(33, 33, generator=torch.Generator().manual_seed(4)) > 0.7).float()
    extra = {"labels": {"labels": labels}, "mask": {"mask": mask}, "none": {}}[supervision]
    assert_blocked_equals_dense(
        lambda f, memory: supcon_loss(
            f, temperature=0.1, contrast_mode=contrast_mode, memory=memory, **extra
        ),
        x,
    )


def reference_lse(anchors, contrast, self_index):
    """float64 log-sum-exp with the self column removed, from the full matrix."""
    similarity = anchors.double() @ contrast.double().T
    rows = torch.arange(anchors.shape[0])
    keep = self_index >= 0
    similarity[rows[keep], self_index[keep]] = float("-inf")
    return torch.logsumexp(similarity, dim=1), similarity.amax(dim=1)


ROUTES = {
    # anchors = contrast / T, self = own index: symmetric tiles
    "symmetric": lambda z, temperature: (z / temperature, z, torch.arange(z.shape[0])),
    # anchors the first half of the contrast set (SupCon contrast_mode='one'): row blocks
    "prefix": lambda z, temperature: (
        z[: len(z) // 2] / temperature,
        z,
        torch.arange(len(z) // 2),
    ),
    # unrelated anchors, random self columns (some none): row blocks
    "general": lambda z, temperature: (
        torch.flip(z[: 2 * len(z) // 3], dims=[1]) / temperature,
        z,
        torch.randint(-1, len(z), (2 * len(z) // 3,), generator=torch.Generator().manual_seed(5)),
    ),
}


@pytest.mark.parametrize("memory", ["blocked", "dense"])
@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("temperature", [0.2, 0.004])  # 0.004: every row is far below its shift
def test_blocked_routes_match_float64_reference(tiles, route, temperature, memory):
    z = F.normalize(torch.randn(43, 8, generator=torch.Generator().manual_seed(6)), dim=1)
    anchors, contrast, self_index = ROUTES[route](z, temperature)
    assert _is_symmetric(anchors, contrast, self_index) == (route == "symmetric")
    anchors.requires_grad_(True)
    contrast = contrast.clone().requires_grad_(True)
    lse, row_max = contrast_logsumexp(anchors, contrast, self_index, memory, block_rows=6)
    upstream = torch.rand(lse.shape, generator=torch.Generator().manual_seed(7))
    (lse * upstream).sum().backward()

    anchors64 = anchors.detach().double().requires_grad_(True)
    contrast64 = contrast.detach().double().requires_grad_(True)
    expected_lse, expected_max = reference_lse(anchors64, contrast64, self_index)
    (expected_lse * upstream.double()).sum().backward()
    scale = max(1.0, 1.0 / temperature)  # float32 similarities carry ~1e-7 * |s| of rounding
    torch.testing.assert_close(lse.double(), expected_lse.detach(), rtol=0, atol=1e-6 * scale)
    torch.testing.assert_close(row_max.double(), expected_max.detach(), rtol=0, atol=1e-6 * scale)
    for got, expected in ((anchors.grad, anchors64.grad), (contrast.grad, contrast64.grad)):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("memory", ["blocked", "dense"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_blocked_routes_gradcheck_float64(tiles, route, memory):
    z = F.normalize(torch.randn(19, 4, generator=torch.Generator().manual_seed(8)).double(), dim=1)
    anchors, contrast, self_index = ROUTES[route](z, 0.5)
    if route == "symmetric":
        # gradcheck perturbs one input at a time, which breaks a = c / T: differentiate through
        # the shared features instead, as SupCon does.
        def function(x):
            return contrast_logsumexp(x / 0.5, x, self_index, memory, block_rows=4)[0]

        assert torch.autograd.gradcheck(function, (z.clone().requires_grad_(True),))
        return
    assert torch.autograd.gradcheck(
        lambda a, c: contrast_logsumexp(a, c, self_index, memory, block_rows=4)[0],
        (anchors.clone().requires_grad_(True), contrast.clone().requires_grad_(True)),
    )


def test_rows_without_any_contrast_term_give_minus_infinity():
    anchors = torch.randn(3, 4, requires_grad=True)
    contrast = torch.randn(1, 4, requires_grad=True)
    lse, row_max = contrast_logsumexp(anchors, contrast, torch.tensor([0, 0, -1]), "blocked")
    assert torch.isinf(lse[:2]).all() and torch.isinf(row_max[:2]).all()
    torch.testing.assert_close(lse[2], (anchors[2] @ contrast[0]).detach())
    lse[2].backward()
    torch.testing.assert_close(anchors.grad[2], contrast[0].detach())
    assert torch.equal(anchors.grad[:2], torch.zeros(2, 4))


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any aten op returns while active."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


@pytest.mark.parametrize("supervised", [True, False])
def test_blocked_never_builds_the_n_by_n_matrix(supervised, tiles, monkeypatch):
    monkeypatch.setattr(_logsumexp, "_BLOCK_ELEMENTS", 1 << 18)
    monkeypatch.setattr(_logsumexp, "_TILE_ELEMENTS", 1 << 18)
    x = features(1024, 2, dim=32, seed=9).requires_grad_(True)  # N = 2048: N^2 = 4.2M
    labels = torch.arange(1024) % 10 if supervised else None
    sizes = {}
    for memory in ("dense", "blocked"):
        with _LargestTensor() as probe:
            supcon_loss(x, labels, temperature=0.1, memory=memory).backward()
        sizes[memory] = probe.largest
    n = 2048
    # S is symmetric here: the tiles keep the upper triangle (4 x 4 tiles of 512: 10 of 16), the
    # row route the whole matrix.
    assert sizes["dense"] == (tile_elements(n, 512) if tiles else n * n)
    assert tile_elements(n, 512) == 10 * 512 * 512
    assert sizes["blocked"] <= max(_logsumexp._TILE_ELEMENTS, _logsumexp._BLOCK_ELEMENTS)
    assert sizes["blocked"] * 4 <= n * n


def test_dense_keeps_the_whole_matrix_when_s_is_not_symmetric():
    x = features(256, 2, dim=16, seed=9).requires_grad_(True)
    with _LargestTensor() as probe:
        supcon_loss(x, torch.arange(256) % 10, contrast_mode="one", memory="dense").backward()
    assert probe.largest >= 256 * 512


@pytest.mark.parametrize("contrast_mode", ["all", "one"])
def test_auto_keeps_the_probabilities_only_below_the_limit(
    small_blocks, tiles, monkeypatch, contrast_mode
):
    x = features(64, 2, seed=10)
    n_anchors = 128 if contrast_mode == "all" else 64
    kept = tile_elements(128, 8) if contrast_mode == "all" and tiles else n_anchors * 128
    results = {}
    symmetric_tiles = contrast_mode == "all" and tiles  # the CPU tiles have their own limit
    name = "CPU_TILE_KEEP_LIMIT_BYTES" if symmetric_tiles else "KEEP_LIMIT_BYTES"
    for limit in (kept * 4, kept * 4 - 1):  # exactly fits: keep; one byte short: recompute
        monkeypatch.setattr(_logsumexp, name, limit)
        with _LargestTensor() as probe:
            results[limit] = supcon_loss(
                x, torch.arange(64) % 4, contrast_mode=contrast_mode, memory="auto"
            )
        assert (probe.largest >= kept) == (limit == kept * 4)
    torch.testing.assert_close(results[kept * 4 - 1], results[kept * 4], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("memory", ["dense", "blocked"])
def test_row_max_can_be_skipped_without_changing_lse(small_blocks, memory):
    z = features(40, 1, dim=8, seed=13)[:, 0]
    self_index = torch.arange(40)
    lse, row_max = contrast_logsumexp(z / 0.1, z, self_index, memory)
    lse_only, nothing = contrast_logsumexp(z / 0.1, z, self_index, memory, with_row_max=False)
    assert nothing is None
    torch.testing.assert_close(lse_only, lse, rtol=0, atol=0)
    similarities = (z @ z.t() / 0.1).fill_diagonal_(float("-inf"))
    torch.testing.assert_close(row_max, similarities.amax(dim=1), rtol=0, atol=1e-5)


def test_upper_tiles_cover_the_upper_triangle_once():
    covered = torch.zeros(11, 11, dtype=torch.long)
    for rows, columns in upper_tiles(11, 4):
        covered[rows, columns] += 1
        covered[columns, rows] += int(rows != columns)
    assert torch.equal(covered, torch.ones(11, 11, dtype=torch.long))
    assert tile_elements(11, 4) == 4 * 4 * 3 + 4 * 3 * 2 + 3 * 3  # 3 diagonal, 3 off-diagonal


# --- mixed precision ---------------------------------------------------------------------------

HALF_DTYPES = [torch.float16, torch.bfloat16]
LOSSES = {
    "supcon": lambda f, memory: supcon_loss(
        f, torch.arange(f.shape[0]) % 4, temperature=0.05, memory=memory
    ),
    "ntxent": lambda f, memory: ntxent_loss(f, temperature=0.05, memory=memory),
    "info_nce": lambda f, memory: info_nce(f[:, 0], f[:, 1], temperature=0.05, memory=memory),
    "info_nce_queue": lambda f, memory: info_nce(
        f[:8, 0], f[:8, 1], f[8:].flatten(0, 1), temperature=0.05, memory=memory
    ),
}


@pytest.mark.parametrize("memory", ["dense", "blocked"])
@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_precision_features_at_temperature_0_05(dtype, loss_name, memory):
    # Four tight clusters: logits near 1 / T = 20 (exp(20) overflows float16) for same-cluster
    # pairs, so no loss is trivially 0 or dominated by one term.
    centres = features(4, 1, dim=64, seed=11).repeat(6, 1, 1)  # sample i in cluster i % 4
    noisy = centres + 0.15 * features(24, 2, dim=64, seed=12)
    x = F.normalize(noisy, dim=-1).to(dtype).requires_grad_(True)
    loss_fn = LOSSES[loss_name]
    with torch.autocast(device_type="cpu", dtype=dtype):
        loss = loss_fn(x, memory)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()
    exact = loss_fn(x.detach().double(), "dense")  # the same quantised inputs in float64
    assert float(exact) > 0.1
    assert float(loss.detach()) == pytest.approx(float(exact), rel=1e-4)


def test_symmetric_hint_gives_the_detected_result_and_rejects_impossible_calls(tiles):
    z = features(30, 1, dim=8, seed=14)[:, 0]
    self_index = torch.arange(30)
    for memory in ("dense", "blocked"):
        detected, _ = contrast_logsumexp(z / 0.2, z, self_index, memory, block_rows=8)
        hinted, _ = contrast_logsumexp(z / 0.2, z, self_index, memory, 8, symmetric=True)
        torch.testing.assert_close(hinted, detected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="symmetric=True"):
        contrast_logsumexp(z[:10] / 0.2, z, self_index[:10], symmetric=True)
    with pytest.raises(ValueError, match="symmetric=True"):
        contrast_logsumexp(z / 0.2, z, None, symmetric=True)


@pytest.mark.parametrize("memory", ["dense", "blocked"])
def test_diagonal_self_index_equals_the_index_tensor(small_blocks, memory):
    generator = torch.Generator().manual_seed(15)
    anchors = torch.randn(9, 4, generator=generator, dtype=torch.float64)
    contrast = torch.randn(13, 4, generator=generator, dtype=torch.float64)
    by_tensor = contrast_logsumexp(anchors, contrast, torch.arange(9), memory)
    by_name = contrast_logsumexp(anchors, contrast, "diagonal", memory)
    torch.testing.assert_close(by_name, by_tensor, rtol=0, atol=0)
    assert torch.autograd.gradcheck(
        lambda a, c: contrast_logsumexp(a, c, "diagonal", memory)[0],
        (anchors.requires_grad_(True), contrast.requires_grad_(True)),
    )


def test_self_index_checks():
    anchors, contrast = torch.randn(4, 3), torch.randn(5, 3)
    out_of_range = torch.tensor([0, 1, 2, 5])
    with pytest.raises(ValueError, match="column >= the 5 contrast rows"):
        contrast_logsumexp(anchors, contrast, out_of_range, validate=True)
    with pytest.raises(ValueError, match="at most as many anchors"):
        contrast_logsumexp(torch.randn(6, 3), contrast, "diagonal")
    with pytest.raises(ValueError, match="self_index must be a tensor, None or 'diagonal'"):
        contrast_logsumexp(anchors, contrast, "diag")
    with pytest.raises(ValueError, match="int64 of shape"):
        contrast_logsumexp(anchors, contrast, torch.arange(4, dtype=torch.int32))
