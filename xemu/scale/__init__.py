"""Data larger than memory: :mod:`~xemu.scale.lazy` (dask-backed prediction, block by block)
and :mod:`~xemu.scale.stream` (training from a store read block by block: the blocks in
:mod:`~xemu.scale.blocks`, the passes before training in :mod:`~xemu.scale.passes`, the
window loader in :mod:`~xemu.scale.loader`).
"""
