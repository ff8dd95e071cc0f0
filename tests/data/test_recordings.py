"""read_recording: every format against the values written, CWRU naming rules, and a clear error
naming the file for every kind of bad file (including truncated and corrupted bytes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.io.wavfile

from contrastlab.data.recordings import SUPPORTED_SUFFIXES, read_recording

RNG = np.random.default_rng(0)
SIGNAL = RNG.standard_normal((2, 500))


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_npy_vector_is_one_channel(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", SIGNAL[0])
    recording = read_recording(tmp_path / "a.npy")
    np.testing.assert_array_equal(recording.signal, SIGNAL[:1])
    assert recording.signal.dtype == np.float64 and recording.signal.shape == (1, 500)
    assert recording.channel_names == ("ch0",) and recording.sample_rate_hz is None
    assert recording.path == tmp_path / "a.npy" and recording.rpm is None
    np.save(tmp_path / "int.npy", np.arange(7, dtype=np.int16)[:, None])  # [T, 1] is a vector
    np.testing.assert_array_equal(read_recording(tmp_path / "int.npy").signal, [np.arange(7.0)])


def test_npy_matrix_needs_a_layout(tmp_path: Path) -> None:
    path = tmp_path / "m.npy"
    np.save(path, SIGNAL)
    with pytest.raises(ValueError, match=r"m\.npy is a matrix of shape \(2, 500\).*layout="):
        read_recording(path)
    np.testing.assert_array_equal(read_recording(path, layout="channels_first").signal, SIGNAL)
    np.save(path, SIGNAL.T)
    recording = read_recording(path, layout="channels_last", channels=["ch1"])
    np.testing.assert_array_equal(recording.signal, SIGNAL[1:])
    assert recording.channel_names == ("ch1",)
    with pytest.raises(ValueError, match="layout must be one of"):
        read_recording(path, layout="rows")
    np.save(path, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\); layout='channels_first' reads 1-D"):
        read_recording(path, layout="channels_first")


def test_csv_with_and_without_header(tmp_path: Path) -> None:
    rows = "\n".join(f"{float(a)!r},{float(b)!r}" for a, b in SIGNAL.T)
    headed = read_recording(write_csv(tmp_path / "h.csv", "accel_x,accel_y\n" + rows + "\n"))
    np.testing.assert_array_equal(headed.signal, SIGNAL)
    assert headed.channel_names == ("accel_x", "accel_y")
    plain = read_recording(write_csv(tmp_path / "p.csv", "\n" + rows))  # a blank first line
    np.testing.assert_array_equal(plain.signal, SIGNAL)
    assert plain.channel_names == ("ch0", "ch1")
    # Excel's byte-order mark and quoted names; channels picks columns by name, in that order.
    excel = write_csv(tmp_path / "e.csv", '"time","accel"\n0,1.5\n1,2.5\n2,-1\n', "utf-8-sig")
    recording = read_recording(excel, channels=["accel", "time"])
    np.testing.assert_array_equal(recording.signal, [[1.5, 2.5, -1.0], [0.0, 1.0, 2.0]])
    assert recording.channel_names == ("accel", "time")
    with pytest.raises(ValueError, match=r"e\.csv has no channel \['DE'\]; its channels are"):
        read_recording(excel, channels="DE")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2,3\n", "header names 2 columns but the rows hold 3"),
        ("1,2,3,4\n", "one row of 4 values"),
        ("a,b\n", "no numeric data"),
        ("1,2\n3,x\n", r"cannot read .*bad\.csv as a \.csv file"),
        ("1,2\n3\n", r"cannot read .*bad\.csv"),
        ("a,a\n1,2\n", "distinct and non-empty"),
    ],
)
def test_csv_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        read_recording(path)
    assert str(path) in str(error.value)


def test_wav_pcm_scaling_and_rate(tmp_path: Path) -> None:
    int16 = np.array([[-32768, 0], [16384, -16384], [32767, 1]], dtype=np.int16)  # [T, C]
    scipy.io.wavfile.write(tmp_path / "s.wav", 48_000, int16)
    recording = read_recording(tmp_path / "s.wav")
    assert recording.sample_rate_hz == 48_000.0 and recording.channel_names == ("ch0", "ch1")
    np.testing.assert_array_equal(
        recording.signal, [[-1.0, 0.5, 32767 / 32768], [0.0, -0.5, 1 / 32768]]
    )
    scipy.io.wavfile.write(tmp_path / "u8.wav", 8000, np.array([0, 128, 255], dtype=np.uint8))
    np.testing.assert_array_equal(
        read_recording(tmp_path / "u8.wav").signal, [[-1.0, 0.0, 127 / 128]]
    )
    int32 = np.array([-(2**31), 2**30], dtype=np.int32)
    scipy.io.wavfile.write(tmp_path / "i32.wav", 8000, int32)
    np.testing.assert_array_equal(read_recording(tmp_path / "i32.wav").signal, [[-1.0, 0.5]])
    floats = np.array([0.25, -3.0], dtype=np.float32)  # float samples are kept as they are
    scipy.io.wavfile.write(tmp_path / "f.wav", 8000, floats)
    np.testing.assert_array_equal(read_recording(tmp_path / "f.wav").signal, [[0.25, -3.0]])


def _write_cwru_like(path: Path, number: int, extra: int | None = None) -> dict[str, np.ndarray]:
    content = {}
    for source in (number, extra):
        if source is not None:
            content[f"X{source:03d}_DE_time"] = RNG.standard_normal((300, 1)) + source
            content[f"X{source:03d}_FE_time"] = RNG.standard_normal((300, 1)) - source
            content[f"X{source:03d}RPM"] = np.array([[1700 + source]], dtype=np.uint16)
    scipy.io.savemat(path, content)
    return content


def test_mat_cwru_rules_pick_the_files_own_number(tmp_path: Path) -> None:
    path = tmp_path / "12k_Drive_End_IR007_0_105.mat"
    content = _write_cwru_like(path, 105, extra=106)
    recording = read_recording(path, channels=["fe", "DE"])  # codes are upper-cased
    np.testing.assert_array_equal(recording.signal[0], content["X105_FE_time"][:, 0])
    np.testing.assert_array_equal(recording.signal[1], content["X105_DE_time"][:, 0])
    assert recording.channel_names == ("FE", "DE") and recording.rpm == 1805.0
    default = read_recording(path)  # the drive end
    np.testing.assert_array_equal(default.signal, content["X105_DE_time"].T)
    with pytest.raises(ValueError, match=r"no variable 'X105_BA_time' \(channel BA\); it holds"):
        read_recording(path, channels="BA")
    with pytest.raises(ValueError, match="must not repeat"):
        read_recording(path, channels=["DE", "de"])


def test_mat_other_names_use_the_channel_suffix_or_variable(tmp_path: Path) -> None:
    path = tmp_path / "rig_run_3.mat"
    scipy.io.savemat(path, {"acc_DE_time": SIGNAL[0], "acc_FE_time": SIGNAL[1], "note": "x"})
    recording = read_recording(path, channels=["DE", "FE"])
    np.testing.assert_array_equal(recording.signal, SIGNAL)
    assert recording.rpm is None
    by_name = read_recording(path, variable="acc_FE_time")
    np.testing.assert_array_equal(by_name.signal, SIGNAL[1:])
    assert by_name.channel_names == ("acc_FE_time",)
    scipy.io.savemat(path, {"a_DE_time": SIGNAL[0], "b_DE_time": SIGNAL[1]})
    with pytest.raises(ValueError, match=r"cannot tell which variable holds channel DE.*variable="):
        read_recording(path)
    with pytest.raises(ValueError, match=r"has no variable 'c'; it holds \['a_DE_time', 'b_DE"):
        read_recording(path, variable="c")
    with pytest.raises(ValueError, match=r"variable .* or channels .* not both"):
        read_recording(path, variable="a_DE_time", channels=["DE"])


def test_mat_matrix_is_refused_with_its_shape_and_the_variables(tmp_path: Path) -> None:
    path = tmp_path / "12k_Drive_End_B007_0_118.mat"
    scipy.io.savemat(path, {"X118_DE_time": SIGNAL.T, "X118RPM": np.array([[1797]])})
    with pytest.raises(
        ValueError,
        match=r"'X118_DE_time' is a matrix of shape \(500, 2\).*holds \['X118RPM', 'X118_DE_ti",
    ):
        read_recording(path)
    recording = read_recording(path, variable="X118_DE_time", layout="channels_last")
    np.testing.assert_array_equal(recording.signal, SIGNAL)
    assert recording.channel_names == ("X118_DE_time[0]", "X118_DE_time[1]")
    with pytest.raises(ValueError, match=r"layout applies to \.npy arrays and to a \.mat variable"):
        read_recording(path, layout="channels_last")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (SIGNAL[0] + 1j * SIGNAL[1], "complex-valued signal: pass its magnitude or real part"),
        (np.array(["abc"]), "holds no numeric data"),
        (np.zeros((0, 1)), "holds no numeric data"),
    ],
)
def test_mat_and_npy_values_that_are_no_signal(
    tmp_path: Path, value: np.ndarray, message: str
) -> None:
    scipy.io.savemat(tmp_path / "v.mat", {"x": value})
    with pytest.raises(ValueError, match=message):
        read_recording(tmp_path / "v.mat", variable="x")
    np.save(tmp_path / "v.npy", value)
    with pytest.raises(ValueError, match=message):
        read_recording(tmp_path / "v.npy")


def test_mat_channels_of_different_lengths(tmp_path: Path) -> None:
    path = tmp_path / "12k_Drive_End_B007_0_118.mat"
    scipy.io.savemat(path, {"X118_DE_time": np.ones((10, 1)), "X118_FE_time": np.ones((9, 1))})
    with pytest.raises(ValueError, match=r"channels of different lengths: \{'DE': 10, 'FE': 9\}"):
        read_recording(path, channels=["DE", "FE"])


def test_missing_unknown_and_misused_options(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="recording not found"):
        read_recording(tmp_path / "absent.npy")
    (tmp_path / "r.flac").write_bytes(b"fLaC")
    with pytest.raises(ValueError, match=r"unsupported file type '\.flac'; supported: \['\.npy'"):
        read_recording(tmp_path / "r.flac")
    np.save(tmp_path / "a.npy", SIGNAL[0])
    with pytest.raises(ValueError, match=r"\.mat files only"):
        read_recording(tmp_path / "a.npy", variable="x")
    with pytest.raises(ValueError, match="distinct channels"):
        read_recording(tmp_path / "a.npy", channels=["ch0", "ch0"])


def _sample_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    np.save(folder / "a.npy", SIGNAL[0])
    scipy.io.wavfile.write(folder / "a.wav", 12_000, (SIGNAL.T * 3000).astype(np.int16))
    scipy.io.savemat(folder / "plain.mat", {"x_DE_time": SIGNAL[0]})
    scipy.io.savemat(folder / "zipped.mat", {"x_DE_time": SIGNAL[0]}, do_compression=True)
    write_csv(folder / "a.csv", "a,b\n" + "\n".join(f"{a},{b}" for a, b in SIGNAL.T))
    return {p.name: p for p in folder.iterdir()}


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"zero{suffix}"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"zero\.\w+ is empty \(0 bytes\)"):
        read_recording(path)


@pytest.mark.parametrize("name", ["a.npy", "a.wav", "plain.mat", "zipped.mat"])
def test_every_truncation_of_a_binary_file_is_a_clear_error(tmp_path: Path, name: str) -> None:
    source = _sample_files(tmp_path / "good")[name]
    data = source.read_bytes()
    cut_points = sorted({*range(1, 200, 7), *np.linspace(200, len(data) - 1, 25).astype(int)})
    target = tmp_path / name
    for cut in cut_points:
        target.write_bytes(data[:cut])
        with pytest.raises(ValueError) as error:
            read_recording(target)
        assert str(target) in str(error.value), (cut, str(error.value))


@pytest.mark.parametrize("name", ["a.npy", "a.wav", "plain.mat", "zipped.mat", "a.csv"])
def test_corrupted_bytes_read_or_fail_clearly(tmp_path: Path, name: str) -> None:
    """Flipped bytes either still decode (a flip inside the samples) or give a ValueError naming
    the file, never another exception type."""
    source = _sample_files(tmp_path / "good")[name]
    data = source.read_bytes()
    target = tmp_path / name
    failures = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        corrupted = bytearray(data)
        for index in rng.integers(0, min(len(data), 400), size=4):  # the headers, mostly
            corrupted[index] = int(rng.integers(0, 256))
        target.write_bytes(bytes(corrupted))
        try:
            recording = read_recording(target)
        except ValueError as error:
            assert str(target) in str(error)
            failures += 1
        else:
            assert recording.signal.ndim == 2 and recording.signal.dtype == np.float64
    assert failures > 0  # the corruption did reach the parsers


def test_v73_mat_file_is_named(tmp_path: Path) -> None:
    # MATLAB v7.3 files are HDF5: a 512-byte header saying so, then HDF5 data.
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\x00" * 8
    path = tmp_path / "new.mat"
    path.write_bytes(header + b"\x00\x02IM" + b"\x00" * 384)
    with pytest.raises(ValueError, match=r"cannot read .*new\.mat as a \.mat file"):
        read_recording(path)


def _real_cwru_file() -> Path | None:
    env = os.environ.get("CONTRASTLAB_CWRU_DIR")
    folders = [Path(env)] if env else []
    folders.append(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cwru")
    files = [f / "0HP" / "12k_Drive_End_IR007_0_105.mat" for f in folders]
    return next((f for f in files if f.is_file()), None)


@pytest.mark.skipif(_real_cwru_file() is None, reason="real CWRU data not found")
def test_real_cwru_file() -> None:
    path = _real_cwru_file()
    raw = scipy.io.loadmat(path)
    recording = read_recording(path, channels=("DE", "FE", "BA"))
    for row, code in enumerate(("DE", "FE", "BA")):
        np.testing.assert_array_equal(recording.signal[row], raw[f"X105_{code}_time"][:, 0])
    assert recording.rpm == float(raw["X105RPM"].ravel()[0])
