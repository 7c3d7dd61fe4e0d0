"""Files on disk: atomic writes of netCDF and Zarr, and the formats of xemu's own files, their
schemas and checks. Reading a file here runs no code from it. This layer checks files; it does
not build emulators from them (:func:`xemu.load` passes in the classes that build the network
and the variability model).

Modules
-------
* :mod:`~xemu.io.files`: atomic writes of netCDF files and Zarr stores.
* :mod:`~xemu.io.saving`: saving an emulator folder or a baseline file, and finishing an
  interrupted save.
* :mod:`~xemu.io.schemas`: checking JSON against a schema and listing every problem.
* :mod:`~xemu.io.emulator_format`: ``emulator.json`` (:data:`EMULATOR_SCHEMA`) and its checks.
* :mod:`~xemu.io.emulator_folder`: reading an emulator folder (:func:`read_emulator_folder`).
* :mod:`~xemu.io.baseline_format`: a baseline's netCDF file (:data:`BASELINE_META_SCHEMA`).
* :mod:`~xemu.io.weights`: weights and training checkpoints (:data:`CHECKPOINT_KEYS`).
* :mod:`~xemu.io.records`: attributes made JSON-safe.
* :mod:`~xemu.io.common`: the names of xemu's files and the helpers of its messages.

Every failure to read is a :class:`~xemu.DataError` naming the file (or a
:class:`~xemu.PathError` for a missing path or one of the wrong kind).
"""

from .baseline_format import (
    BASELINE_META_SCHEMA,
    check_baseline_matches,
    is_xemu_baseline_file,
    read_baseline_file,
)
from .emulator_folder import read_emulator_folder, read_variability_file
from .emulator_format import (
    EMULATOR_FORMAT,
    EMULATOR_SCHEMA,
    GRID_SCHEMA,
    MAX_JSON_BYTES,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MODEL_SCHEMA,
    check_emulator_meta,
    is_xemu_emulator_folder,
)
from .files import NETCDF_COMPRESSION, atomic_path, check_writable, is_zarr_store, write_netcdf, write_zarr
from .saving import (
    EMULATOR_FILES,
    check_baseline_target,
    check_emulator_target,
    recover_interrupted_save,
    save_baseline_file,
    save_emulator_folder,
)
from .weights import CHECKPOINT_KEYS, check_state_dict, read_checkpoint

__all__ = ['atomic_path', 'write_netcdf', 'write_zarr', 'is_zarr_store', 'NETCDF_COMPRESSION', 'check_writable',
           'save_baseline_file', 'save_emulator_folder', 'recover_interrupted_save', 'is_xemu_baseline_file',
           'is_xemu_emulator_folder', 'check_baseline_target', 'check_emulator_target', 'EMULATOR_FILES',
           'read_emulator_folder', 'read_baseline_file', 'read_checkpoint', 'read_variability_file',
           'check_emulator_meta', 'check_state_dict', 'check_baseline_matches', 'EMULATOR_FORMAT',
           'EMULATOR_SCHEMA', 'GRID_SCHEMA', 'MODEL_SCHEMA', 'BASELINE_META_SCHEMA', 'CHECKPOINT_KEYS',
           'MAX_PARAMETERS', 'MAX_LAYERS', 'MAX_JSON_BYTES']
