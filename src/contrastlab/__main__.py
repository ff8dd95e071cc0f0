"""Allow ``python -m contrastlab`` (and ``torchrun -m contrastlab``)."""

from contrastlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
