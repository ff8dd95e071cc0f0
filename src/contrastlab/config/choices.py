"""The names options choose from, in one torch-free place.

The modules that implement them import these tuples (and tests check that registries agree), so
a configuration can validate ``--model`` or ``--input`` without importing the networks.
"""

from __future__ import annotations

PRECISIONS = ("auto", "32", "16-mixed", "bf16-mixed")
OPTIMIZERS = ("sgd", "adamw")

IMAGE_ENCODERS = ("resnet18", "resnet34", "resnet50", "resnet101", "smallcnn")
STEMS = ("cifar", "imagenet")
HEADS = ("mlp", "linear")
IMAGE_SOURCES = ("digits", "cifar10", "cifar100", "folder")
CIFAR_SOURCES = ("cifar10", "cifar100")
PRETRAIN_METHODS = ("supcon", "simclr", "moco")

SIGNAL_BACKBONES = ("mlp", "wdcnn", "resnet1d", "cpc", "ts2vec")
TIMESTAMP_BACKBONES = ("cpc", "ts2vec")  # backbones whose training needs their own method
INPUT_REPRESENTATIONS = ("raw", "standardize", "fft", "envelope")
SPECTRAL_INPUTS = ("fft", "envelope")
SIGNAL_METHODS = ("simclr", "supcon", "cpc", "siamese", "ts2vec")
LABELLED_METHODS = ("supcon", "siamese")  # signal methods that use the labels
SIGNAL_SOURCES = ("cwru", "bearing-sim", "ucr", "folder")
# The folder source's options (data/signal_folder.py, data/recordings.py; tests check they agree).
FOLDER_LABELS = ("folders", "none")
RECORDING_LAYOUTS = ("channels_first", "channels_last")
BAD_FILE_POLICIES = ("error", "skip")
RATE_MISMATCH_POLICIES = ("error", "resample")
UCR_NORMALIZATIONS = ("none", "per_series", "train_zscore")
BEARING_SOURCES = ("cwru", "bearing-sim", "folder")
LABEL_SCHEME_NAMES = ("10class", "4class")
CWRU_CHANNELS = ("DE", "FE", "BA")
MOTOR_LOADS_HP = (0, 1, 2, 3)
TS2VEC_POOLINGS = ("fixed", "cv")
