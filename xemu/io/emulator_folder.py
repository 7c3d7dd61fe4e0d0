"""Reading an emulator folder: every file checked before anything is built from it.

* :func:`read_emulator_folder` reads ``emulator.json`` (at most
  :data:`~xemu.io.MAX_JSON_BYTES`, :func:`~xemu.io.check_emulator_meta`), sizes the network
  on torch's meta device (no memory; at most :data:`~xemu.io.MAX_PARAMETERS` parameters and
  :data:`~xemu.io.MAX_LAYERS` layers), loads ``weights.pt`` with ``weights_only=True`` and
  compares it tensor by tensor with the sized network (:func:`~xemu.io.check_state_dict`)
  before the weights are given to it, and checks that ``baseline.nc`` is present if and only
  if the metadata names a baseline.
* :func:`read_variability_file` reads ``variability.nc`` and checks it against
  ``emulator.json``.

This layer knows no network and no variability model: the caller (:func:`xemu.load`)
passes the classes that build them. Every failure to read is a :class:`~xemu.DataError`
naming the file (or a :class:`~xemu.PathError` for a missing path or one of the wrong kind).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from ..errors import DataError, PathError, XemuError
from .common import MARKER, first_line, name_list, quote
from .emulator_format import EMULATOR_FORMAT, MAX_PARAMETERS, check_emulator_meta, read_emulator_json
from .saving import recover_interrupted_save
from .weights import check_state_dict, load_weights_file

__all__ = ["read_emulator_folder", "read_variability_file"]


def _read_meta(path: Path, argument: str, config_class: type) -> tuple[Path, dict, object]:
    """``emulator.json`` of the folder ``path``, checked: its path, content and network configuration."""
    if not path.exists():
        recover_interrupted_save(path, argument=argument)
    if not path.is_dir():
        raise PathError(f"{argument}: {quote(path)} is not a folder; expected an emulator folder written by "
                        f"Emulator.save")
    meta_file = path / MARKER
    if not meta_file.is_file():
        held = sorted(os.listdir(path))
        raise PathError(f"{argument}: {quote(path)} is a folder but not an xemu emulator: it has no emulator.json "
                        f"({'it holds ' + name_list(held) if held else 'it is empty'}); expected a folder written "
                        f"by Emulator.save")
    meta = read_emulator_json(meta_file)
    if isinstance(meta, dict) and "format" not in meta:
        raise DataError(f"{meta_file}: has no 'format' key; expected {EMULATOR_FORMAT!r} (a file written by "
                        f"Emulator.save)")
    cfg = check_emulator_meta(meta, str(meta_file), config_class=config_class)
    meta.pop("format")
    return meta_file, meta, cfg


def _size_network(meta_file: Path, cfg, network: Callable):
    """``network(cfg)`` built on torch's meta device (shapes and dtypes, no memory), and its parameter count."""
    import torch

    try:
        with torch.device("meta"):
            skeleton = network(cfg)
    except Exception as err:
        raise DataError(f"{meta_file}: key 'model' describes a network torch cannot size ({first_line(err)})") \
            from None
    n_params = sum(p.numel() for p in skeleton.parameters())
    if n_params > MAX_PARAMETERS:
        raise DataError(f"{meta_file}: key 'model' describes a network of {n_params:,} parameters; xemu loads "
                        f"at most {MAX_PARAMETERS:,} (the study's largest has 352,878,672)")
    return skeleton, n_params


def _read_weights(weights: Path, reference: Mapping, n_params: int) -> dict:
    """``weights.pt``, loaded with ``weights_only=True`` and checked against ``reference`` (the sized network)."""
    if weights.exists() and not weights.is_file():
        raise DataError(f"{weights}: not a file; expected the weights that Emulator.save writes")
    if not weights.is_file():
        raise DataError(f"{weights}: missing; emulator.json describes a network of {n_params:,} parameters "
                        f"whose weights should be there (an incomplete copy of the folder?)")
    need = sum(v.numel() * v.element_size() for v in reference.values())
    size = weights.stat().st_size
    if size > 2 * need + 64 * 2**20:
        raise DataError(f"{weights}: {size:,} bytes, far more than the {need:,} bytes of weights the "
                        f"configuration in emulator.json needs; these are not this emulator's weights")
    state = load_weights_file(weights, "the weights of an emulator")
    check_state_dict(state, reference, str(weights))
    return state


def _baseline_file(path: Path, meta: Mapping) -> Path | None:
    """``baseline.nc`` when ``meta`` names a baseline (it must be there), else None (it must not)."""
    baseline_file = path / "baseline.nc"
    if meta["baseline"] is not None and not baseline_file.is_file():
        raise DataError(f"{baseline_file}: missing; emulator.json says the network corrects the "
                        f"{meta['baseline']!r} baseline, saved in that file (an incomplete copy of the folder?)")
    if meta["baseline"] is None and baseline_file.exists():
        raise DataError(f"{baseline_file}: present, but emulator.json says the emulator has no baseline "
                        f"('baseline': null); remove the file or restore the emulator.json that names it")
    return baseline_file if meta["baseline"] is not None else None


def _give_weights(net, state: Mapping, weights: Path):
    """``net`` (on the meta device) with the checked tensors of ``state`` as its own, in eval mode."""
    import torch

    # the checked tensors become the network's (no second copy of the weights); every
    # parameter and buffer is in ``state`` (checked before), so nothing stays on the meta device
    with torch.no_grad():
        net.load_state_dict(state, strict=True, assign=True)
    left = [k for k, v in [*net.named_parameters(), *net.named_buffers()] if v.is_meta]
    if left:  # pragma: no cover - a non-persistent buffer would need building for real
        raise DataError(f"{weights}: the network has tensors the weights do not set: {name_list(left, 4)}")
    net.eval()
    return net


def read_emulator_folder(path: str | os.PathLike, *, config_class: type, network: Callable,
                         argument: str = "path"):
    """Read and check the emulator folder ``path``; give the network its weights only when all is well.

    Order: ``emulator.json`` (size, JSON, :func:`~xemu.io.check_emulator_meta`), the network
    sized on the meta device (refused over :data:`~xemu.io.MAX_PARAMETERS`), ``weights.pt``
    (size, then ``torch.load(..., weights_only=True)``, then names, shapes, dtypes and finite
    values against the sized network), ``baseline.nc`` present if and only if the metadata
    names a baseline. A missing ``path`` goes to :func:`xemu.io.recover_interrupted_save`.

    Parameters
    ----------
    path : path
        The emulator folder.
    config_class : type
        The network's configuration class, :class:`~xemu.nn.model.ModelConfig`, built from
        ``emulator.json``'s ``model`` (see :func:`~xemu.io.check_emulator_meta`).
    network : callable
        ``network(config)`` builds the network, :class:`~xemu.nn.model.CNNGRU`; it is called
        on torch's meta device, so it allocates no memory until the checked weights are its own.
    argument : str
        How errors name ``path``.

    Returns
    -------
    meta : dict
        ``emulator.json`` without ``format``.
    net : torch.nn.Module
        The network with the weights, in eval mode, on the CPU.
    baseline_file : pathlib.Path or None
        ``baseline.nc`` when the metadata names a baseline.

    Raises
    ------
    PathError
        ``path`` is missing (and nothing recoverable is beside it), or a folder without
        ``emulator.json``.
    DataError
        Anything in the folder is unreadable, malformed or inconsistent (naming the file).
    """
    path = Path(path)
    meta_file, meta, cfg = _read_meta(path, argument, config_class)
    skeleton, n_params = _size_network(meta_file, cfg, network)
    weights = path / "weights.pt"
    state = _read_weights(weights, skeleton.state_dict(), n_params)
    baseline_file = _baseline_file(path, meta)
    return meta, _give_weights(skeleton, state, weights), baseline_file


def read_variability_file(file: str | os.PathLike, described, targets, *, from_dataset: Callable):
    """The model of internal variability saved in ``file``, checked against ``emulator.json``.

    Parameters
    ----------
    file : path
        ``variability.nc`` of an emulator folder.
    described : dict or None
        The metadata's ``variability`` entry (``None``: the file must not be there).
    targets : list of str
        The emulator's targets; the model must have the same.
    from_dataset : callable
        Builds the model from the file's Dataset, :meth:`xemu.variability.Variability.from_dataset`;
        an :class:`~xemu.XemuError` it raises is reported naming the file.

    Returns
    -------
    Variability or None
        None when ``described`` is None.

    Raises
    ------
    DataError
        Naming the file: missing, present without being described, unreadable, or not
        the model ``described`` names (targets, block length, method).
    """
    import xarray as xr

    file = Path(file)
    if described is None:
        if file.exists():
            raise DataError(f"{file}: present, but emulator.json says the emulator has no variability model "
                            f"('variability': null); remove the file or restore the emulator.json that names it")
        return None
    if not file.is_file():
        raise DataError(f"{file}: missing; emulator.json names a variability model saved in that file "
                        f"(an incomplete copy of the folder?)")
    try:
        with xr.open_dataset(file) as f:
            ds = f.load()
    except Exception as err:  # netCDF4 and xarray raise many kinds of errors for a bad file
        raise DataError(f"{file}: not a readable netCDF file ({first_line(err)})") from None
    try:
        variability = from_dataset(ds)
    except XemuError as err:
        raise DataError(f"{file}: {err}") from None
    _check_variability_matches(variability, described, targets, file)
    return variability


def _check_variability_matches(variability, described: Mapping, targets, file: Path) -> None:
    """Raise :class:`~xemu.DataError` unless ``variability`` is the model ``described`` (and of ``targets``)."""
    if sorted(variability.targets) != sorted(targets):
        raise DataError(f"{file}: models targets {variability.targets}; emulator.json's targets are {list(targets)}")
    if variability.block != described["block"]:
        raise DataError(f"{file}: block of {variability.block} months; emulator.json says {described['block']}")
    if variability.method != described.get("method", "parametric"):
        raise DataError(f"{file}: a {variability.method} residual model; emulator.json says "
                        f"{described.get('method', 'parametric')!r}")
