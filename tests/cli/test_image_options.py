"""Help texts of the image commands' generated options."""

from __future__ import annotations

import pytest

from contrastlab.cli import main


@pytest.mark.parametrize("command", ["pretrain", "ce", "linear", "knn"])
def test_val_size_is_explained_in_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal width
    assert "--val_size VAL_SIZE CIFAR only: training images held out" in text
    assert "0 trains on all 50000 and chooses nothing on validation" in text
    assert "linear and knn default to the checkpoint's value" in text
