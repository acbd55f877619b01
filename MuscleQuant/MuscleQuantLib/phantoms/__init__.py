"""Synthetic phantoms: the test data of the whole product.

Each anatomy has one generator module registered in :mod:`.registry`; they share the subject
sampling, geometry, orientation and writing machinery of :mod:`.base`.
"""
