"""Helpers for tests that start processes: a free local port and a 2-process ``torchrun`` of the
``contrastlab`` command line (CPU, gloo). Importable from every test folder (``tests/`` is on
``sys.path`` through its ``conftest.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun_contrastlab(*arguments: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=2 -m contrastlab ARGUMENTS`` with one thread per process and
    no progress bars; the test fails with the end of both outputs when it does not exit 0."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "contrastlab",
        *arguments,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=environment, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
