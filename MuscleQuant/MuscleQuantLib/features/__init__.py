"""Radiomic features of segmented muscle (PyRadiomics), one row per case, settings recorded."""
