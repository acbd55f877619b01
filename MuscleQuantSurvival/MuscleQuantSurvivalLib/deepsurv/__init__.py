"""Radiomics deep survival (the HCC paper's pipeline): features → autoencoder → DeepSurv → evaluation."""
