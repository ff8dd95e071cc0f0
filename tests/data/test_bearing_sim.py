"""Bearing simulator: geometry against hand-computed values, envelope lines at the defect rates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from contrastlab.data.bearing_sim import (
    LOAD_RPM,
    SKF_6205,
    BearingGeometry,
    BearingPhysics,
    simulate_bearing_dataset,
    simulate_bearing_record,
    structural_background,
)
from contrastlab.data.cwru import CLASSES_4, CLASSES_10
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.spectra import envelope_spectrum
from contrastlab.data.windows import window_count


def test_skf6205_fault_orders_by_hand() -> None:
    # d/D = 7.94 / 39.04 = 0.2033811; n/2 = 4.5; D/(2d) = 2.4584383.
    fr = 1797 / 60
    assert SKF_6205.diameter_ratio == pytest.approx(0.2033811, abs=1e-7)
    assert SKF_6205.bpfo(fr) / fr == pytest.approx(3.5848, abs=1e-4)
    assert SKF_6205.bpfi(fr) / fr == pytest.approx(5.4152, abs=1e-4)
    assert SKF_6205.bsf(fr) / fr == pytest.approx(2.3567, abs=1e-4)
    assert SKF_6205.ftf(fr) / fr == pytest.approx(0.3983, abs=1e-4)
    assert SKF_6205.bpfi(fr) == pytest.approx(162.186, abs=1e-3)  # CWRU: 5.4152 x 29.95 Hz
    # BPFO + BPFI = n fr for any geometry; a 40 deg contact angle shrinks d/D by cos(40 deg).
    angled = BearingGeometry(contact_angle_deg=40.0)
    assert angled.bpfo(10.0) + angled.bpfi(10.0) == pytest.approx(90.0)
    assert angled.diameter_ratio == pytest.approx(0.2033811 * np.cos(np.deg2rad(40)), rel=1e-6)


def _envelope_peak(
    signal: np.ndarray, low: float = 10.0, high: float = 400.0
) -> tuple[float, float]:
    freqs, amplitude = envelope_spectrum(signal, 12_000, band=(2_000, 4_000))
    band = (freqs > low) & (freqs < high)
    return float(freqs[band][np.argmax(amplitude[band])]), float(freqs[1])


@pytest.mark.parametrize(("class_name", "order"), [("IR007", 5.4152), ("OR014@6", 3.5848)])
@pytest.mark.parametrize("load_hp", [0, 2])
def test_envelope_spectrum_peaks_at_the_defect_frequency(
    class_name: str, order: float, load_hp: int
) -> None:
    record = simulate_bearing_record(class_name, load_hp, n_samples=48_000, seed=3)
    expected_hz = order * LOAD_RPM[load_hp] / 60
    assert record.defect_hz == pytest.approx(expected_hz, rel=1e-4)
    peak_hz, bin_hz = _envelope_peak(record.signal)
    assert abs(peak_hz - expected_hz) <= 2 * bin_hz


def test_ball_fault_impacts_at_twice_bsf_and_normal_has_none() -> None:
    record = simulate_bearing_record("B021", 1, n_samples=36_000, seed=0)
    spacing = np.diff(record.impulse_times_s).mean()
    assert 1 / spacing == pytest.approx(2 * SKF_6205.bsf(1772 / 60), rel=0.01)
    peak_hz, bin_hz = _envelope_peak(record.signal, 100, 400)
    assert abs(peak_hz - 2 * SKF_6205.bsf(1772 / 60)) <= 2 * bin_hz
    normal = simulate_bearing_record("normal", 0, n_samples=12_000, seed=0)
    assert normal.defect_hz is None and normal.impulse_times_s.size == 0


def test_fault_size_sets_amplitude_and_seed_reproduces() -> None:
    quiet = BearingPhysics(
        noise_std=0.0, background_std=0.0, shaft_amplitude=0.0, amplitude_scatter=0.0
    )
    rms = [
        simulate_bearing_record(f"IR0{s}", 0, 24_000, physics=quiet, seed=5).signal.std()
        for s in ("07", "14", "21")
    ]
    # Amplitude scales with the size (7, 14, 21 mils) and the same seed gives the same impacts.
    np.testing.assert_allclose(np.array(rms) / rms[0], [1, 2, 3], rtol=1e-9)
    a = simulate_bearing_record("OR007@6", 0, 5_000, seed=9).signal
    b = simulate_bearing_record("OR007@6", 0, 5_000, seed=9).signal
    np.testing.assert_array_equal(a, b)


def test_record_errors() -> None:
    with pytest.raises(ValueError, match="class_name"):
        simulate_bearing_record("XR007")
    with pytest.raises(ValueError, match="load_hp"):
        simulate_bearing_record("IR007", load_hp=5)
    with pytest.raises(ValueError, match="damping_ratio"):
        BearingPhysics(damping_ratio=1.5)


def test_dataset_shapes_counts_and_schemes() -> None:
    splits = simulate_bearing_dataset(
        loads=(0, 3), n_samples=12_000, window_length=1024, stride=512, seed=1
    )
    assert splits.class_names == list(CLASSES_10) and splits.input_shape == (1, 1024)
    # 20 records of 12000 samples: train 8400 -> 15 windows, val 1800 -> 2, test 1800 -> 2.
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20 * 15, 20 * 2, 20 * 2)
    assert window_count(8400, 1024, 512) == 15
    assert torch.equal(torch.bincount(splits.train.labels), torch.full((10,), 30))
    meta = splits.metadata
    assert meta["source"] == "bearing-sim" and meta["load_hp"] == [0, 3]
    assert sorted(set(meta["rpm"])) == [1730.0, 1797.0]
    assert splits.train.inputs.mean().abs() < 1e-5  # standardised with train statistics
    four = simulate_bearing_dataset(n_samples=12_000, window_length=1024, label_scheme="4class")
    assert four.class_names == list(CLASSES_4)
    assert torch.bincount(four.train.labels).tolist() == [
        15,
        45,
        45,
        45,
    ]  # 1 normal, 3 of each fault
    via_source = load_signal_source(
        "bearing-sim", n_samples=12_000, window_length=1024, label_scheme="4class"
    )
    assert torch.equal(via_source.test.inputs, four.test.inputs)


def test_simulated_classes_are_separable_by_envelope_spectrum() -> None:
    """A nearest-centroid rule on envelope spectra separates the 4 fault types: the data carry
    the physics a model should find."""
    from contrastlab.data.spectra import EnvelopeSpectrum

    splits = simulate_bearing_dataset(n_samples=24_000, label_scheme="4class", seed=2)
    transform = EnvelopeSpectrum()
    train, test = transform(splits.train.inputs)[:, 0], transform(splits.test.inputs)[:, 0]
    centroids = torch.stack([train[splits.train.labels == c].mean(0) for c in range(4)])
    predicted = torch.cdist(test, centroids).argmin(1)
    assert (predicted == splits.test.labels).float().mean() > 0.9


def test_signal_source_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown signal source 'wav'"):
        load_signal_source("wav")
    with pytest.raises(ValueError, match="reads no files"):
        load_signal_source("bearing-sim", "/tmp")
    with pytest.raises(ValueError, match=r"does not take options \['rpm'\]"):
        load_signal_source("bearing-sim", rpm=1800)
    monkeypatch.delenv("CONTRASTLAB_CWRU_DIR", raising=False)
    with pytest.raises(ValueError, match="CONTRASTLAB_CWRU_DIR"):
        load_signal_source("cwru")


def test_background_rings_the_structural_mode() -> None:
    """The background has the requested std and its power peaks at the resonance, within the
    half-power bandwidth 2 zeta f_r of a damped mode, unlike white noise."""
    physics = BearingPhysics(resonance_hz=2500.0, damping_ratio=0.05, background_std=0.3)
    background = structural_background(96_000, 12_000, physics, np.random.default_rng(0))
    assert background.std() == pytest.approx(0.3, rel=1e-12)
    freqs, density = scipy.signal.welch(background, fs=12_000, nperseg=1024)
    assert abs(freqs[np.argmax(density)] - 2500.0) <= 2 * 0.05 * 2500.0
    in_band = (freqs > 2000) & (freqs < 3000)
    assert density[in_band].sum() / density.sum() > 0.6  # white noise: 1000 / 6000 = 0.17
    normal = simulate_bearing_record("normal", n_samples=48_000, seed=1).signal
    quiet = BearingPhysics(background_std=0.0)
    assert (
        normal.std()
        > simulate_bearing_record("normal", 0, 48_000, physics=quiet, seed=1).signal.std()
    )
