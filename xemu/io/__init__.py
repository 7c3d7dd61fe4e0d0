"""Files on disk: atomic writes of netCDF and Zarr (:mod:`~xemu.io.files`), and the formats
of xemu's own files, their schemas and checks (:mod:`~xemu.io.formats`). Reading a file here
runs no code from it. This layer checks files; it does not build emulators from them.
"""

from .files import (
    EMULATOR_FILES,
    NETCDF_COMPRESSION,
    atomic_path,
    check_baseline_target,
    check_emulator_target,
    check_writable,
    is_xemu_baseline_file,
    is_xemu_emulator_folder,
    is_zarr_store,
    recover_interrupted_save,
    save_baseline_file,
    save_emulator_folder,
    write_netcdf,
    write_zarr,
)
from .formats import (
    BASELINE_META_SCHEMA,
    CHECKPOINT_KEYS,
    EMULATOR_FORMAT,
    EMULATOR_SCHEMA,
    GRID_SCHEMA,
    MAX_JSON_BYTES,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MODEL_SCHEMA,
    check_baseline_matches,
    check_emulator_meta,
    check_state_dict,
    read_baseline_file,
    read_checkpoint,
    read_emulator_folder,
)

__all__ = ['atomic_path', 'write_netcdf', 'write_zarr', 'is_zarr_store', 'NETCDF_COMPRESSION', 'check_writable',
           'save_baseline_file', 'save_emulator_folder', 'recover_interrupted_save', 'is_xemu_baseline_file',
           'is_xemu_emulator_folder', 'check_baseline_target', 'check_emulator_target', 'EMULATOR_FILES',
           'read_emulator_folder', 'read_baseline_file', 'read_checkpoint', 'check_emulator_meta',
           'check_state_dict', 'check_baseline_matches', 'EMULATOR_FORMAT', 'EMULATOR_SCHEMA', 'GRID_SCHEMA',
           'MODEL_SCHEMA', 'BASELINE_META_SCHEMA', 'CHECKPOINT_KEYS', 'MAX_PARAMETERS', 'MAX_LAYERS',
           'MAX_JSON_BYTES']
