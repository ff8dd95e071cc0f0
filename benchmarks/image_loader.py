"""Streamed image folders: loader throughput and the memory of a ``pretrain`` epoch.

Generates, in a temporary folder, ``2 N`` image files of mixed sizes (sides 200-640 px, JPEG and
PNG alternately): ``part1/<class>/`` holds the first N in 10 class folders, ``part2/`` the other N
without classes. Then:

1. **Loader throughput**: images/s of
   :class:`~contrastlab.training.streaming_batches.StreamingViewBatches` (two full-resolution
   random resized crops per image, resized to ``--size``) over the labelled tree ``part1``, at 1
   and 2 worker processes: one epoch, timed after the first batch (worker start-up excluded).
2. **Memory of a pretrain epoch**: ``contrastlab pretrain --dataset folder --labels none
   --method simclr --in_memory_mb 0`` (always streamed) for one epoch on N files (``part1``) and
   on 2N files (the whole tree), each in a fresh subprocess that reports its peak resident set
   (``resource.getrusage``: the main process's, and the largest of its DataLoader workers'; a
   forked worker's resident set counts the pages it shares with the main process, so the two are
   close). With streaming, the figures should not grow with the number of files.

    python benchmarks/image_loader.py                     # N = 2000, size 64, batch 64
    python benchmarks/image_loader.py --files 40 --batch-size 8 --size 32   # a quick check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from contrastlab.data.image_folder import list_image_files
from contrastlab.data.image_stream import RandomCropViews
from contrastlab.training.streaming_batches import StreamingViewBatches

N_CLASSES = 10
SIDES = (200, 640)

_MEASURE = """
import json, resource, sys, warnings
warnings.simplefilter("ignore")
from contrastlab.cli import main
code = main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "main_peak_mib": own / 1024, "worker_peak_mib": workers / 1024}))
"""


def write_image(path: Path, generator: np.random.Generator) -> None:
    """A smooth random image (gradients plus mild noise, so PNG stays small) of random sides."""
    height, width = (int(side) for side in generator.integers(SIDES[0], SIDES[1] + 1, 2))
    rows = np.linspace(0, 1, height)[:, None, None]
    columns = np.linspace(0, 1, width)[None, :, None]
    colour = generator.random((1, 1, 3))
    pixels = 255 * (0.5 * rows * colour + 0.5 * columns * (1 - colour))
    pixels += generator.normal(0, 8, (height, width, 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)


def generate(root: Path, n_files: int, seed: int = 0) -> None:
    generator = np.random.default_rng(seed)
    for index in range(2 * n_files):
        labelled = index < n_files
        folder = root / "part1" / f"class{index % N_CLASSES}" if labelled else root / "part2"
        folder.mkdir(parents=True, exist_ok=True)
        write_image(folder / f"{index:06d}.{'jpg' if index % 2 else 'png'}", generator)


def loader_throughput(folder: Path, workers: int, size: int, batch_size: int) -> float:
    """Images per second of one epoch of the streamed loader (after its first batch)."""
    views = RandomCropViews(list_image_files(folder, "folders"), size, n_views=2, seed=0)
    source = StreamingViewBatches(views, batch_size, 0, torch.device("cpu"), workers)
    batches = source.epoch(1)
    next(batches)
    started, images = time.perf_counter(), 0
    for inputs, _ in batches:
        images += inputs.shape[0]
    return images / (time.perf_counter() - started)


def pretrain_memory(folder: Path, workers: int, size: int, batch_size: int, out: Path) -> dict:
    """Peak resident memory (MiB) of a one-epoch streamed pretrain in a fresh subprocess."""
    command = [
        sys.executable, "-c", _MEASURE, "pretrain", "--dataset", "folder", "--data_folder",
        str(folder), "--labels", "none", "--method", "simclr", "--in_memory_mb", "0",
        "--workers", str(workers), "--size", str(size), "--batch_size", str(batch_size),
        "--model", "smallcnn", "--epochs", "1", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"code"')]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"pretrain failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="N: files per part (2N in all)")
    parser.add_argument("--size", type=int, default=64, help="crop side after resizing")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contrastlab-images-") as temporary:
        root = Path(temporary)
        started = time.perf_counter()
        generate(root / "images", args.files)
        print(f"generated {2 * args.files} files in {time.perf_counter() - started:.1f} s")
        for workers in args.workers:
            rate = loader_throughput(root / "images" / "part1", workers, args.size, args.batch_size)
            print(f"loader, {workers} worker(s): {rate:.0f} images/s (2 crops each)")
        for label, folder in (("N", root / "images" / "part1"), ("2N", root / "images")):
            memory = pretrain_memory(
                folder, max(args.workers), args.size, args.batch_size, root / f"run-{label}"
            )
            print(
                f"pretrain epoch on {label} files: main process peak "
                f"{memory['main_peak_mib']:.0f} MiB, largest worker peak "
                f"{memory['worker_peak_mib']:.0f} MiB"
            )


if __name__ == "__main__":
    main()
