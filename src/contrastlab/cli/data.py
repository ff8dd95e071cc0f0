"""``contrastlab download``: fetch a data set for machines that are online.

    contrastlab download cwru --out data/cwru [--loads 0 1] [--files 97 105 ...]
    contrastlab download cifar10 --out data

CWRU: the 12 kHz drive-end records of the 10-class scheme (normal; inner race, ball, outer race
@6:00 at 0.007 / 0.014 / 0.021 in) at 0-3 hp, by their official file numbers, saved in the layout
``contrastlab bearing --data`` reads; each file is checked against its registered SHA-256 (or, where
none is registered, for its own ``XNNN_DE_time`` variable) and files already present and valid are
skipped. CIFAR: the official archive, MD5-checked and extracted. ``--base_url`` points at a mirror
(any URL urllib reads, e.g. ``file:///mnt/mirror``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

DATASETS = ("cwru", "cifar10", "cifar100")


def _download(args: argparse.Namespace) -> int:
    try:
        if args.dataset == "cwru":
            from contrastlab.data.cwru_download import CWRU_BASE_URL, download_cwru

            paths = download_cwru(
                args.out,
                files=args.files,
                base_url=args.base_url or CWRU_BASE_URL,
                loads=args.loads,
                progress=True,
            )
            print(f"{len(paths)} CWRU files ready under {args.out}")
            return 0
        from contrastlab.data.cifar import prepare_cifar

        if args.files or args.loads:
            raise ValueError("--files and --loads apply to cwru only")
        folder = prepare_cifar(args.dataset, args.out, download=True, base_url=args.base_url)
        print(f"{args.dataset} ready in {folder}")
        return 0
    except OSError as error:  # unreachable host, refused connection, disk full
        print(f"contrastlab download: error: {error}", file=sys.stderr)
        return 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "download",
        help="fetch CWRU bearing records or a CIFAR archive (needs the internet)",
        description=(
            "Fetch CWRU bearing records (12 kHz drive end, 10 classes, 0-3 hp; SHA-256 checked) "
            "or a CIFAR archive (MD5 checked, extracted). Files already present and valid are "
            "kept, so an interrupted download can be restarted."
        ),
    )
    parser.add_argument("dataset", choices=DATASETS, help="what to fetch")
    parser.add_argument("--out", required=True, help="destination folder (created)")
    parser.add_argument(
        "--files",
        nargs="+",
        type=int,
        help="cwru: official file numbers to fetch (default: the whole 10-class table)",
    )
    parser.add_argument(
        "--loads",
        nargs="+",
        type=int,
        choices=(0, 1, 2, 3),
        help="cwru: motor loads in hp to keep (default: all four)",
    )
    parser.add_argument(
        "--base_url",
        help="mirror to fetch from instead of the official server (e.g. file:///mnt/mirror)",
    )
    parser.set_defaults(func=_download)
