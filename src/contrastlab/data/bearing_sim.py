"""Physics-based synthetic rolling-bearing vibration, shaped like the CWRU 12 kHz drive-end data.

A localised defect produces an impact each time a rolling element meets it; every impact rings a
structural resonance (a decaying sinusoid), and the impact strength is modulated by where the defect
sits relative to the load zone (McFadden & Smith 1984; Randall & Antoni, MSSP 2011). With shaft
frequency ``fr``, ``n`` balls of diameter ``d`` on pitch diameter ``D`` and contact angle ``phi``:

- ``BPFO = n/2 * fr * (1 - d/D cos phi)``  (outer-race defect, fixed: no modulation)
- ``BPFI = n/2 * fr * (1 + d/D cos phi)``  (inner-race defect, modulated at ``fr``)
- ``BSF  = D/(2d) * fr * (1 - (d/D cos phi)^2)``  (ball defect: it hits both races once per spin,
  so impacts come at ``2 BSF`` with alternating strength, modulated at the cage frequency)
- ``FTF  = fr/2 * (1 - d/D cos phi)``  (cage)

For the SKF 6205 of the CWRU rig (9 balls, d = 7.94 mm, D = 39.04 mm, phi = 0):
BPFO = 3.585 fr, BPFI = 5.415 fr, BSF = 2.357 fr, FTF = 0.398 fr.

The simulation adds slow speed fluctuation, random slip of the impact spacing (the rolling elements
do not roll perfectly; 1-2 % of the spacing, accumulating), impact-to-impact amplitude scatter,
shaft harmonics (unbalance, present in every class), the machine's broadband background (random
forces rung through the same structural mode, so a healthy bearing's spectrum has the resonance
hump a real one has, unlike white noise) and white sensor noise. The motor load sets the shaft
speed (1797 / 1772 / 1750 / 1730 rpm at 0-3 hp) and the fault diameter sets the impact amplitude
(proportional to the size in mils / 7).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.signal

from contrastlab._checks import check_choice, check_int, check_non_negative, check_positive
from contrastlab.data.cwru import CLASSES_10, LABEL_SCHEMES, class_index, recording_splits
from contrastlab.data.splits import DataSplits

LOAD_RPM: dict[int, float] = {0: 1797.0, 1: 1772.0, 2: 1750.0, 3: 1730.0}
_CLASS_PATTERN = re.compile(r"^(?P<fault>IR|B|OR)(?P<size>\d{3})(?:@\d+)?$")


@dataclass(frozen=True)
class BearingGeometry:
    """Rolling-bearing geometry; defaults are the SKF 6205 deep-groove ball bearing."""

    n_balls: int = 9
    ball_diameter_mm: float = 7.94
    pitch_diameter_mm: float = 39.04
    contact_angle_deg: float = 0.0

    @property
    def diameter_ratio(self) -> float:
        """``d/D * cos(phi)``."""
        angle = np.deg2rad(self.contact_angle_deg)
        return float(self.ball_diameter_mm / self.pitch_diameter_mm * np.cos(angle))

    def bpfo(self, shaft_hz: float) -> float:
        """Ball-pass frequency, outer race: ``n/2 fr (1 - d/D cos phi)``."""
        return self.n_balls / 2 * shaft_hz * (1 - self.diameter_ratio)

    def bpfi(self, shaft_hz: float) -> float:
        """Ball-pass frequency, inner race: ``n/2 fr (1 + d/D cos phi)``."""
        return self.n_balls / 2 * shaft_hz * (1 + self.diameter_ratio)

    def bsf(self, shaft_hz: float) -> float:
        """Ball spin frequency: ``D/(2d) fr (1 - (d/D cos phi)^2)``."""
        ratio = self.pitch_diameter_mm / (2 * self.ball_diameter_mm)
        return ratio * shaft_hz * (1 - self.diameter_ratio**2)

    def ftf(self, shaft_hz: float) -> float:
        """Fundamental train (cage) frequency: ``fr/2 (1 - d/D cos phi)``."""
        return shaft_hz / 2 * (1 - self.diameter_ratio)


SKF_6205 = BearingGeometry()


@dataclass(frozen=True)
class BearingPhysics:
    """Parameters of :func:`simulate_bearing_record` other than class, load and length.

    ``resonance_hz`` / ``damping_ratio``: the structural mode each impact rings,
    ``h(t) = exp(-zeta w t) sin(w sqrt(1 - zeta^2) t)`` with ``w = 2 pi resonance_hz``;
    ``impulse_amplitude``: peak acceleration of a 0.007 in fault's impact;
    ``amplitude_scatter``: relative std of impact strength; ``modulation_depth``: ``m`` in
    ``1 + m cos(2 pi f_mod t)`` (shaft for inner race, cage for ball);
    ``speed_jitter``: relative std of the slow shaft-speed fluctuation;
    ``slip``: relative std of each impact spacing (accumulating, as real slip does);
    ``shaft_amplitude``: amplitude of the 1x (and half of it, 2x) shaft harmonic;
    ``background_std``: std of the machine's background vibration, white Gaussian forces filtered
    by the structural mode (a two-pole resonator with the same ``resonance_hz`` and
    ``damping_ratio``: ``y[n] = 2 r cos(w_d / fs) y[n-1] - r^2 y[n-2] + e[n]``,
    ``r = exp(-zeta w / fs)``), scaled to this std;
    ``noise_std``: std of additive white Gaussian sensor noise.
    """

    geometry: BearingGeometry = SKF_6205
    resonance_hz: float = 3000.0
    damping_ratio: float = 0.05
    impulse_amplitude: float = 1.0
    amplitude_scatter: float = 0.1
    modulation_depth: float = 0.5
    speed_jitter: float = 0.002
    slip: float = 0.01
    shaft_amplitude: float = 0.05
    background_std: float = 0.2
    noise_std: float = 0.05

    def __post_init__(self) -> None:
        check_positive("resonance_hz", self.resonance_hz)
        if not 0 < self.damping_ratio < 1:
            raise ValueError(f"damping_ratio must be in (0, 1), got {self.damping_ratio}")
        if not 0 <= self.modulation_depth <= 1:
            raise ValueError(f"modulation_depth must be in [0, 1], got {self.modulation_depth}")
        for name in ("impulse_amplitude", "amplitude_scatter", "speed_jitter", "slip"):
            check_non_negative(name, getattr(self, name))
        check_non_negative("shaft_amplitude", self.shaft_amplitude)
        check_non_negative("background_std", self.background_std)
        check_non_negative("noise_std", self.noise_std)


@dataclass
class SimulatedRecord:
    """One simulated recording: ``signal [T]`` float64 acceleration, its class and speeds.

    ``defect_hz`` is the mean impact rate (BPFO, BPFI or 2 BSF; ``None`` for normal) and
    ``impulse_times_s`` the impact instants.
    """

    signal: np.ndarray
    class_name: str
    load_hp: int
    rpm: float
    shaft_hz: float
    defect_hz: float | None
    impulse_times_s: np.ndarray


def _parse_class(class_name: str) -> tuple[str, float]:
    """``'IR014'`` -> ``('inner_race', 14.0)``; ``'normal'`` -> ``('normal', 0.0)``."""
    if class_name == "normal":
        return "normal", 0.0
    match = _CLASS_PATTERN.match(class_name)
    if match is None:
        raise ValueError(
            f"class_name must be 'normal' or like 'IR007', 'B014', 'OR021@6', got {class_name!r}"
        )
    fault = {"IR": "inner_race", "B": "ball", "OR": "outer_race"}[match["fault"]]
    return fault, float(match["size"])


def _shaft_revolutions(
    n_samples: int, sample_rate_hz: float, shaft_hz: float, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """Shaft angle in revolutions ``rho(t) = int_0^t fr(s) ds``, ``fr(s) = fr (1 + jitter w(s))``
    with ``w`` a unit-variance sum of three slow (0.1-1 Hz) random sinusoids."""
    time_s = np.arange(n_samples) / sample_rate_hz
    freqs = rng.uniform(0.1, 1.0, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    wobble = np.sin(2 * np.pi * freqs[:, None] * time_s + phases[:, None]).sum(0) * np.sqrt(2 / 3)
    speed_hz = shaft_hz * (1 + jitter * wobble)
    return np.concatenate(([0.0], np.cumsum(speed_hz[:-1]) / sample_rate_hz))


def _ring(
    impulse_times_s: np.ndarray,
    amplitudes: np.ndarray,
    n_samples: int,
    sample_rate_hz: float,
    physics: BearingPhysics,
) -> np.ndarray:
    """Sum of resonance responses ``a_k h(t - t_k)``, placed with sub-sample accuracy."""
    omega = 2 * np.pi * physics.resonance_hz
    decay = physics.damping_ratio * omega
    omega_d = omega * np.sqrt(1 - physics.damping_ratio**2)
    support = int(np.ceil(np.log(1e4) / decay * sample_rate_hz)) + 1  # until h < 1e-4
    first = np.ceil(impulse_times_s * sample_rate_hz).astype(np.int64)  # first sample after t_k
    offsets = np.arange(support)
    index = first[:, None] + offsets  # [K, support]
    lag_s = index / sample_rate_hz - impulse_times_s[:, None]
    response = amplitudes[:, None] * np.exp(-decay * lag_s) * np.sin(omega_d * lag_s)
    keep = index < n_samples
    out = np.zeros(n_samples)
    np.add.at(out, index[keep], response[keep])
    return out


def structural_background(
    n_samples: int, sample_rate_hz: float, physics: BearingPhysics, rng: np.random.Generator
) -> np.ndarray:
    """White Gaussian forces through the structural mode, scaled to ``physics.background_std``
    (see :class:`BearingPhysics`): ``[n_samples]``."""
    omega = 2 * np.pi * physics.resonance_hz / sample_rate_hz  # rad per sample
    radius = np.exp(-physics.damping_ratio * omega)
    omega_d = omega * np.sqrt(1 - physics.damping_ratio**2)
    forces = rng.standard_normal(n_samples)
    response = scipy.signal.lfilter([1.0], [1.0, -2 * radius * np.cos(omega_d), radius**2], forces)
    return physics.background_std * response / response.std()


def simulate_bearing_record(
    class_name: str,
    load_hp: int = 0,
    n_samples: int = 120_000,
    sample_rate_hz: float = 12_000.0,
    physics: BearingPhysics | None = None,
    rpm: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> SimulatedRecord:
    """Simulate one drive-end acceleration record of ``n_samples`` samples.

    Args:
        class_name: ``'normal'`` or a CWRU class such as ``'IR007'``, ``'B014'``, ``'OR021@6'``
            (fault type from the letters, fault diameter in mils from the digits).
        load_hp: motor load 0-3 hp, which sets the shaft speed (:data:`LOAD_RPM`) unless ``rpm``
            is given.
        physics: resonance, modulation, slip and noise parameters (:class:`BearingPhysics`).
        seed: seed or generator; the same seed gives the same record.
    """
    physics = physics or BearingPhysics()
    fault, size_mils = _parse_class(class_name)
    if rpm is None:
        if load_hp not in LOAD_RPM:
            raise ValueError(f"load_hp must be one of {sorted(LOAD_RPM)}, got {load_hp!r}")
        rpm = LOAD_RPM[load_hp]
    check_positive("rpm", rpm)
    check_positive("sample_rate_hz", sample_rate_hz)
    check_int("n_samples", n_samples, minimum=2)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    shaft_hz = rpm / 60.0
    revolutions = _shaft_revolutions(n_samples, sample_rate_hz, shaft_hz, physics.speed_jitter, rng)
    time_s = np.arange(n_samples) / sample_rate_hz
    signal = physics.shaft_amplitude * (
        np.sin(2 * np.pi * revolutions + rng.uniform(0, 2 * np.pi))
        + 0.5 * np.sin(4 * np.pi * revolutions + rng.uniform(0, 2 * np.pi))
    )
    defect_hz, impulse_times = None, np.empty(0)
    if fault != "normal":
        geometry = physics.geometry
        order = {
            "outer_race": geometry.bpfo(1.0),
            "inner_race": geometry.bpfi(1.0),
            "ball": 2 * geometry.bsf(1.0),
        }[fault]
        defect_hz = order * shaft_hz
        # Impacts every 1/order shaft revolutions, each spacing perturbed by the slip.
        n_impacts = int(np.ceil(revolutions[-1] * order * 1.1)) + 2
        spacing = (1 + physics.slip * rng.standard_normal(n_impacts)) / order
        impact_revs = rng.uniform(0, 1 / order) + np.cumsum(spacing)
        impact_revs = impact_revs[impact_revs < revolutions[-1]]
        impulse_times = np.interp(impact_revs, revolutions, time_s)
        amplitudes = physics.impulse_amplitude * size_mils / 7.0
        amplitudes = amplitudes * (
            1 + physics.amplitude_scatter * rng.standard_normal(len(impact_revs))
        )
        phase = rng.uniform(0, 2 * np.pi)
        if fault == "inner_race":  # the defect turns with the shaft through the load zone
            amplitudes *= 1 + physics.modulation_depth * np.cos(2 * np.pi * impact_revs + phase)
        elif fault == "ball":  # the ball turns with the cage; inner-race strikes are weaker
            cage_revs = impact_revs * geometry.ftf(1.0)
            amplitudes *= 1 + physics.modulation_depth * np.cos(2 * np.pi * cage_revs + phase)
            amplitudes[1::2] *= 0.5
        signal = signal + _ring(impulse_times, amplitudes, n_samples, sample_rate_hz, physics)
    if physics.background_std > 0:
        signal = signal + structural_background(n_samples, sample_rate_hz, physics, rng)
    signal = signal + physics.noise_std * rng.standard_normal(n_samples)
    return SimulatedRecord(
        signal=signal,
        class_name=class_name,
        load_hp=int(load_hp),
        rpm=float(rpm),
        shaft_hz=shaft_hz,
        defect_hz=defect_hz,
        impulse_times_s=impulse_times,
    )


def simulate_bearing_dataset(
    loads: Sequence[int] = (0,),
    n_samples: int = 60_000,
    window_length: int = 2048,
    stride: int | None = None,
    label_scheme: str = "10class",
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    records_per_class: int = 1,
    sample_rate_hz: float = 12_000.0,
    physics: BearingPhysics | None = None,
    normalize: str = "standard",
    seed: int = 0,
) -> DataSplits:
    """Simulated counterpart of :func:`contrastlab.data.cwru.load_cwru_splits`.

    One record of ``n_samples`` samples per class of :data:`~contrastlab.data.cwru.CLASSES_10`,
    load and repetition (``records_per_class``), labelled with ``label_scheme`` (``'4class'`` maps
    the three fault sizes onto their fault type), split by time inside each record and windowed
    exactly like the CWRU loader. Inputs: float32 ``[N, 1, window_length]``.
    """
    check_choice("label_scheme", label_scheme, tuple(LABEL_SCHEMES))
    check_int("records_per_class", records_per_class)
    physics = physics or BearingPhysics()
    child_seeds = np.random.SeedSequence(seed).spawn(
        len(loads) * len(CLASSES_10) * records_per_class
    )
    signals, records = [], []
    for load_hp in loads:
        for class_name in CLASSES_10:
            for _ in range(records_per_class):
                record = simulate_bearing_record(
                    class_name,
                    load_hp,
                    n_samples,
                    sample_rate_hz,
                    physics,
                    seed=np.random.default_rng(child_seeds[len(records)]),
                )
                label = class_index(class_name, label_scheme)
                signals.append(record.signal[None])
                records.append(
                    {
                        "class_name": class_name,
                        "label": label,
                        "load_hp": record.load_hp,
                        "rpm": record.rpm,
                        "defect_hz": record.defect_hz,
                        "n_samples": n_samples,
                    }
                )
    return recording_splits(
        signals,
        records,
        source="bearing-sim",
        sample_rate_hz=sample_rate_hz,
        channels=["DE"],
        label_scheme=label_scheme,
        window_length=window_length,
        stride=stride,
        split_fractions=split_fractions,
        normalize=normalize,
        physics=asdict(physics),
        seed=seed,
    )
