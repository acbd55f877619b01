"""Segmenting an image with a trained model: the path users take from the CLI and from Slicer."""
