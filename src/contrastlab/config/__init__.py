"""Configurations of the commands: one dataclass per command, each option defined once (default,
help text, range, choices), validated when the configuration is built. Importing this package
does not import torch."""

from contrastlab.config.deploy import EmbedConfig, ExportConfig
from contrastlab.config.image import CEConfig, KNNConfig, LinearConfig, PretrainConfig
from contrastlab.config.options import Config, build_config, option
from contrastlab.config.signal import (
    BearingConfig,
    CPCConfig,
    DiagnoseConfig,
    SignalConfig,
    UCRConfig,
)
from contrastlab.config.training import RunOptions, TrainConfig
from contrastlab.config.yaml_files import read_yaml

__all__ = [
    "BearingConfig",
    "CEConfig",
    "CPCConfig",
    "Config",
    "DiagnoseConfig",
    "EmbedConfig",
    "ExportConfig",
    "KNNConfig",
    "LinearConfig",
    "PretrainConfig",
    "RunOptions",
    "SignalConfig",
    "TrainConfig",
    "UCRConfig",
    "build_config",
    "option",
    "read_yaml",
]
