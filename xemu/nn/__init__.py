"""The network and how it learns: :mod:`~xemu.nn.model` (the CNN-GRU),
:mod:`~xemu.nn.losses` (MSE, Dice, Gabor, ...), :mod:`~xemu.nn.training` (the training loop,
checkpoints, resume), :mod:`~xemu.nn.distributed` (data-parallel training) and
:mod:`~xemu.nn.device` (which torch device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...). It sees
tensors, not Datasets: it knows nothing of coordinates, units, baselines or variability.
"""
