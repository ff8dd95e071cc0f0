"""End-to-end pipelines: data -> model -> training loop -> evaluation -> run directory."""
