"""The shared training loop and what it needs: configuration, schedules, checkpoints, RNG, DDP."""
