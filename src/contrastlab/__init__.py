"""contrastlab: contrastive representation learning for images and 1-D signals.

Layers, with arrows pointing one way:

- ``contrastlab.distances`` and ``contrastlab.losses`` / ``contrastlab.mi``: pure tensor maths.
- ``contrastlab.models`` and ``contrastlab.data``: networks, data sources, views and augmentations.
- ``contrastlab.training`` and ``contrastlab.evaluation``: one training loop, probes and plots.
- ``contrastlab.cli``: the ``contrastlab`` command.
"""

__version__ = "0.1.0"
