"""The preprocessing and post-processing every preset shares: orientation, resampling, intensity
normalisation, mapping predictions back to the input grid, HU windowing, islands and sides."""
