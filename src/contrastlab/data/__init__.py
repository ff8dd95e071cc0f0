"""Data sources (images and signals), views and augmentations."""
