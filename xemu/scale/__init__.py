"""Data larger than memory: :mod:`~xemu.scale.lazy` (dask-backed prediction, block by block)
and :mod:`~xemu.scale.stream` (training from a store read block by block).
"""
