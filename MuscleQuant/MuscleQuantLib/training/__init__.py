"""Training the presets' networks on image/label pairs (phantoms or approved cases)."""
