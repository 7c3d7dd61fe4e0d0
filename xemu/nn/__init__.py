"""The network and how it learns: :mod:`~xemu.nn.model` (the CNN-GRU),
:mod:`~xemu.nn.losses` (MSE, Dice, Gabor, ...), :mod:`~xemu.nn.training` (the training loop,
checkpoints, resume) and :mod:`~xemu.nn.distributed` (data-parallel training). It sees
tensors, not Datasets: it knows nothing of coordinates, units, baselines or variability.
"""
