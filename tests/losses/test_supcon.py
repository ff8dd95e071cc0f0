"""SupConLoss against slow, obvious references and under numerically hard conditions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlab.losses import SupConLoss, supcon_loss


def slow_supcon(features, positive_weight, temperature, contrast_mode, base_temperature):
    """Explicit loops in float64. positive_weight(b_anchor, b_other) -> weight of that pair."""
    bsz, n_views = features.shape[:2]
    flat = features.reshape(bsz, n_views, -1).double()
    items = [(v, b) for v in range(n_views) for b in range(bsz)]  # view-major, as the reference
    anchors = items if contrast_mode == "all" else [(0, b) for b in range(bsz)]
    losses = []
    for va, ba in anchors:
        za = flat[ba, va]
        log_denominator = math.log(
            sum(
                math.exp(float(za @ flat[b, v]) / temperature)
                for v, b in items
                if (v, b) != (va, ba)
            )
        )
        weighted, total_weight = 0.0, 0.0
        for v, b in items:
            if (v, b) == (va, ba):
                continue
            weight = float(positive_weight(ba, b))
            if weight > 0:
                log_prob = float(za @ flat[b, v]) / temperature - log_denominator
                weighted += weight * log_prob
                total_weight += weight
        if total_weight > 0:
            losses.append(-(temperature / base_temperature) * weighted / total_weight)
    return sum(losses) / len(losses) if losses else 0.0


def reference_supcon(
    features, labels=None, mask=None, temperature=0.07, contrast_mode="all", base_temperature=0.07
):
    """The SupContrast algorithm, vectorised as published (NaN for anchors without positives)."""
    bsz, n_views = features.shape[:2]
    if labels is None and mask is None:
        mask = torch.eye(bsz, dtype=features.dtype)
    elif labels is not None:
        mask = torch.eq(labels.view(-1, 1), labels.view(1, -1)).to(features.dtype)
    contrast = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchors, anchor_count = (features[:, 0], 1) if contrast_mode == "one" else (contrast, n_views)
    logits = anchors @ contrast.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True)[0].detach()
    mask = mask.repeat(anchor_count, n_views)
    logits_mask = torch.ones_like(mask)
    logits_mask[torch.arange(bsz * anchor_count), torch.arange(bsz * anchor_count)] = 0
    mask = mask * logits_mask
    log_prob = logits - torch.log((torch.exp(logits) * logits_mask).sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    return (-(temperature / base_temperature) * mean_log_prob_pos).mean()


def random_features(bsz, n_views, dim=8, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(bsz, n_views, dim, generator=generator, dtype=dtype), dim=-1)


@pytest.mark.parametrize(
    ("n_views", "contrast_mode", "supervision"),
    [
        (n_views, contrast_mode, supervision)
        for n_views in (1, 2, 3)
        for contrast_mode in ("all", "one")
        for supervision in ("labels", "mask", "asymmetric-mask", "weighted-mask", "none")
        # one view without labels has no positive at all: test_batch_without_positives
        if not (supervision == "none" and n_views == 1)
    ],
)
def test_matches_slow_loop_reference(n_views, contrast_mode, supervision):
    features = random_features(6, n_views, seed=n_views)
    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    mask = None
    if supervision == "labels":
        weight = lambda i, j: float(labels[i] == labels[j])  # noqa: E731
    elif supervision == "none":
        weight = lambda i, j: float(i == j)  # noqa: E731
    else:
        mask = (torch.rand(6, 6, generator=generator) > 0.5).double()
        if supervision == "weighted-mask":
            mask = mask * torch.rand(6, 6, generator=generator, dtype=torch.float64) * 3
        if supervision == "mask":
            mask = ((mask + mask.T) > 0).double()
        mask.fill_diagonal_(1.0)
        weight = lambda i, j: float(mask[i, j])  # noqa: E731
    expected = slow_supcon(features, weight, 0.1, contrast_mode, 0.07)
    actual = supcon_loss(
        features,
        labels=labels if supervision == "labels" else None,
        mask=mask,
        temperature=0.1,
        contrast_mode=contrast_mode,
        base_temperature=0.07,
    )
    assert actual.dtype == torch.float64
    assert float(actual) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("n_views", [1, 2, 4])
@pytest.mark.parametrize("contrast_mode", ["all", "one"])
def test_equals_supcontrast_reference_where_defined(n_views, contrast_mode):
    features = random_features(12, n_views, dim=16, seed=3)
    labels = torch.tensor([0, 1, 2] * 4)  # every anchor has a positive
    expected = reference_supcon(features, labels, temperature=0.5, contrast_mode=contrast_mode)
    actual = SupConLoss(temperature=0.5, contrast_mode=contrast_mode)(features, labels)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    if n_views > 1:
        torch.testing.assert_close(
            supcon_loss(features, contrast_mode=contrast_mode),
            reference_supcon(features, contrast_mode=contrast_mode),
            rtol=1e-12,
            atol=1e-12,
        )


def test_extra_feature_dimensions_are_flattened():
    features = random_features(5, 2, dim=12, seed=4)
    labels = torch.tensor([0, 0, 1, 1, 2])
    torch.testing.assert_close(
        supcon_loss(features.reshape(5, 2, 3, 4), labels), supcon_loss(features, labels)
    )


def test_anchor_without_positive_is_left_out_where_reference_gives_nan():
    features = random_features(5, 1, seed=5)
    labels = torch.tensor([0, 0, 1, 1, 2])  # sample 4 is alone in its class with one view
    assert torch.isnan(reference_supcon(features, labels))
    expected = slow_supcon(features, lambda i, j: float(labels[i] == labels[j]), 0.07, "all", 0.07)
    actual = supcon_loss(features, labels)
    assert float(actual) == pytest.approx(expected, rel=1e-10)
    per_anchor = supcon_loss(features, labels, reduction="none")
    assert per_anchor.shape == (5,)
    assert per_anchor[4] == 0
    assert float(per_anchor[:4].mean()) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("memory", ["dense", "blocked"])
def test_batch_without_positives_gives_zero_loss_and_zero_gradient(memory):
    features = random_features(4, 1, seed=6).requires_grad_(True)
    loss = supcon_loss(features, torch.arange(4), memory=memory)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert torch.equal(features.grad, torch.zeros_like(features))


@pytest.mark.parametrize("memory", ["dense", "blocked"])
@pytest.mark.parametrize("contrast_mode", ["all", "one"])
def test_gradcheck_float64(memory, contrast_mode):
    features = random_features(6, 2, dim=5, seed=7).requires_grad_(True)
    labels = torch.tensor([0, 1, 0, 1, 2, 2])
    mask = torch.rand(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for kwargs in ({"labels": labels}, {"mask": mask}, {}):
        assert torch.autograd.gradcheck(
            lambda x, kw=kwargs: supcon_loss(
                x, temperature=0.3, contrast_mode=contrast_mode, memory=memory, **kw
            ),
            (features,),
        )


def test_gradient_matches_reference_autograd():
    features = random_features(10, 2, dim=8, seed=8)
    labels = torch.tensor([0, 1, 2, 3, 4] * 2)
    ours = features.clone().requires_grad_(True)
    theirs = features.clone().requires_grad_(True)
    supcon_loss(ours, labels, temperature=0.2).backward()
    reference_supcon(theirs, labels, temperature=0.2).backward()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("supervised", [True, False])
def test_blocked_equals_dense_in_float32(supervised):
    features = random_features(40, 2, dim=16, seed=9, dtype=torch.float32)
    labels = torch.randint(0, 5, (40,), generator=torch.Generator().manual_seed(1))
    results = {}
    for memory in ("dense", "blocked"):
        x = features.clone().requires_grad_(True)
        loss = supcon_loss(x, labels if supervised else None, temperature=0.1, memory=memory)
        loss.backward()
        results[memory] = (loss.detach(), x.grad)
    torch.testing.assert_close(results["dense"][0], results["blocked"][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results["dense"][1], results["blocked"][1], rtol=1e-5, atol=1e-6)


def test_many_row_blocks_equal_one_block():
    from contrastlab.losses import contrast_logsumexp

    generator = torch.Generator().manual_seed(10)
    anchors = torch.randn(37, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    contrast = torch.randn(50, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    self_index = torch.randint(-1, 50, (37,), generator=generator)
    expected = torch.stack(
        [
            torch.logsumexp(
                torch.stack([anchors[i] @ contrast[j] for j in range(50) if j != self_index[i]]),
                dim=0,
            )
            for i in range(37)
        ]
    )
    for memory in ("dense", "blocked"):
        lse, row_max = contrast_logsumexp(anchors, contrast, self_index, memory, block_rows=5)
        torch.testing.assert_close(lse, expected)
        assert bool((row_max <= lse).all())
        assert torch.autograd.gradcheck(
            lambda a, c, m=memory: contrast_logsumexp(a, c, self_index, m, block_rows=7)[0],
            (anchors, contrast),
        )


def simplex_features(bsz, n_views):
    """bsz * n_views unit vectors, pairwise cosine -1 / (n - 1): near-orthogonal, all negative."""
    n = bsz * n_views
    vertices = torch.eye(n) - 1.0 / n
    return F.normalize(vertices, dim=1).reshape(n_views, bsz, n).transpose(0, 1).contiguous()


def test_small_temperature_float32_stays_finite_and_accurate():
    # At T = 0.01 the self-similarity is 1 / T = 100 and every other logit is about -7. The
    # reference subtracts the row maximum including the self term, so exp(-107) underflows to 0 in
    # float32 and its loss and gradients are NaN / inf. Ours leaves the self term out of the max.
    features = simplex_features(8, 2)
    labels = torch.arange(8) % 4
    reference_input = features.clone().requires_grad_(True)
    reference_supcon(reference_input, labels, temperature=0.01).backward()
    assert not torch.isfinite(reference_input.grad).all()

    x32 = features.clone().requires_grad_(True)
    loss32 = supcon_loss(x32, labels, temperature=0.01)
    loss32.backward()
    x64 = features.double().requires_grad_(True)
    loss64 = supcon_loss(x64, labels, temperature=0.01)
    loss64.backward()
    assert torch.isfinite(loss32) and torch.isfinite(x32.grad).all()
    assert loss32.item() == pytest.approx(loss64.item(), rel=1e-5)
    torch.testing.assert_close(x32.grad.double(), x64.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_under_autocast_is_finite_and_accurate(dtype):
    features = random_features(32, 2, dim=64, seed=12, dtype=torch.float32).to(dtype)
    labels = torch.arange(32) % 4
    x = features.clone().requires_grad_(True)
    with torch.autocast(device_type="cpu", dtype=dtype):
        loss = supcon_loss(x, labels, temperature=0.05)
    loss.backward()
    assert loss.dtype == torch.float32
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()
    exact = supcon_loss(features.double(), labels, temperature=0.05)  # same quantised inputs
    assert loss.item() == pytest.approx(exact.item(), rel=1e-5)
    if dtype == torch.bfloat16:
        return
    # The reference algorithm in the same float16 setting is off by more than 1%.
    with torch.autocast(device_type="cpu", dtype=dtype):
        reference = reference_supcon(features, labels, temperature=0.05)
    assert abs(float(reference) - float(exact)) > 0.01 * float(exact)


def test_batch_permutation_invariance():
    features = random_features(16, 2, seed=13)
    labels = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(2))
    permutation = torch.randperm(16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(
        supcon_loss(features, labels), supcon_loss(features[permutation], labels[permutation])
    )


def test_mask_scale_does_not_matter_even_for_tiny_weights():
    features = random_features(6, 2, seed=16)
    mask = torch.rand(6, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    reference = supcon_loss(features, mask=mask)
    for scale in (1e-9, 1e-3, 1e6):
        torch.testing.assert_close(supcon_loss(features, mask=mask * scale), reference)


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int8, torch.int32])
def test_any_integer_label_dtype_and_any_label_values(dtype):
    features = random_features(7, 2, seed=17)
    labels = torch.tensor([1, 0, 0, 1, 1, 0, 1])
    expected = supcon_loss(features, labels)
    torch.testing.assert_close(supcon_loss(features, labels.to(dtype)), expected)
    if dtype != torch.bool:  # negative and large values name classes just as well
        torch.testing.assert_close(supcon_loss(features, labels * 1000 - 7), expected)


def test_labels_equal_the_equivalent_mask():
    features = random_features(9, 3, seed=14)
    labels = torch.tensor([2, 0, 2, 1, 1, 0, 2, 5, 5])
    mask = (labels[:, None] == labels[None, :]).double()
    torch.testing.assert_close(supcon_loss(features, labels), supcon_loss(features, mask=mask))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f, y: supcon_loss(f[:, 0], y), "at least 3 dimensions"),
        (lambda f, y: supcon_loss(f, y[:3]), "3 entries but the batch has 4"),
        (lambda f, y: supcon_loss(f, y.float()), "integer dtype"),
        (lambda f, y: supcon_loss(f, y, mask=torch.eye(4)), "not both"),
        (lambda f, y: supcon_loss(f, mask=torch.eye(3)), r"\[bsz, bsz\]"),
        (lambda f, y: supcon_loss(f, mask=-torch.eye(4), validate=True), ">= 0"),
        (lambda f, y: supcon_loss(f, mask=torch.eye(4) * float("inf"), validate=True), "mask"),
        (lambda f, y: supcon_loss(f * float("nan"), y, validate=True), "NaN or inf"),
        (lambda f, y: SupConLoss(validate=True)(f * float("inf"), y), "NaN or inf"),
        (lambda f, y: supcon_loss(f[:0], y[:0]), "empty"),
        (lambda f, y: supcon_loss(f.long(), y), "floating-point"),
        (lambda f, y: supcon_loss(f, y, temperature=0), "temperature"),
        (lambda f, y: supcon_loss(f, y, contrast_mode="two"), "contrast_mode"),
        (lambda f, y: supcon_loss(f, y, memory="tiny"), "memory"),
        (lambda f, y: supcon_loss(f, y, reduction="avg"), "reduction"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message):
    features = random_features(4, 2, seed=15)
    labels = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match=message):
        call(features, labels)
