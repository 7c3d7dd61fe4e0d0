"""Lazy prediction (xemu.scale.lazy): dask in, dask out, equal to the in-memory prediction."""

import re
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.errors import ConfigError, DataError
from xemu.scale.lazy import MIN_BLOCK_MONTHS, predict_many, time_blocks

TINY = {"conv_widths": (4, 4), "conv_strides": (2, 1), "hidden": 8, "head_hidden": 8}
INPUTS = ["CO2", "CH4", "SO2", "BC"]


@pytest.fixture(scope="module")
def data():
    ds = xemu.synthetic_climate(n_years=5, n_lat=8, n_lon=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ds.emu.fit(INPUTS, ["tas", "pr"], epochs=1, progress=False, config=TINY)
    return ds, em


def _undated(attrs):
    """Global attrs without the time stamps of the history lines (the two predictions ran apart)."""
    return {**attrs, "history": re.sub(r"\d{4}-\d\d-\d\dT[\d:]+Z", "<when>", attrs["history"])}


def _inputs(ds):
    return ds.drop_vars(["tas", "pr", "tas_forced", "pr_forced"])


@pytest.mark.parametrize(
    ("chunks", "options"),
    [
        ({"time": 25}, {}),  # merged into one block per sample (fewer than MIN_BLOCK_MONTHS months)
        ({"time": 25}, {"time_chunk": 12}),  # every block boundary cuts the windows that cross it
        ({"time": 7}, {"time_chunk": 17}),  # blocks that do not follow the chunks
        ({"time": 7, "scenario": 2}, {"time_chunk": 31}),
    ],
)
def test_dask_predict_equals_in_memory(data, chunks, options):
    ds, em = data
    eager = em.predict(_inputs(ds))
    pred = em.predict(_inputs(ds).chunk(chunks), **options)
    assert isinstance(pred.tas.data, da.Array) and isinstance(pred.pr.data, da.Array)
    if "time_chunk" in options:
        n = options["time_chunk"]
        assert pred.tas.chunks[1] == tuple(min(n, 60 - a) for a in range(0, 60, n))
    assert pred.tas.chunks[0] == (1, 1, 1)  # one sample per chunk
    out = pred.compute()
    xr.testing.assert_allclose(out, eager, rtol=1e-6, atol=1e-5)
    assert _undated(out.attrs) == _undated(eager.attrs)
    for name in out.variables:
        assert out[name].attrs == eager[name].attrs, name
    assert out.time.encoding == eager.time.encoding


def test_nothing_is_read_until_asked(data):
    ds, em = data
    reads = []

    def counted(block):
        if block.size:  # dask calls it with empty arrays to learn the dtype
            reads.append(block.shape)
        return block

    lazy = _inputs(ds).chunk({"time": 12})
    lazy = lazy.assign({n: lazy[n].copy(data=lazy[n].data.map_blocks(counted, dtype=lazy[n].dtype)) for n in INPUTS})
    pred = em.predict(lazy)
    assert reads == []
    mean = pred.tas.mean()
    assert reads == []
    mean.compute()
    assert reads


def test_written_chunk_by_chunk_to_zarr(data, tmp_path):
    pytest.importorskip("zarr")
    ds, em = data
    pred = em.predict(_inputs(ds).chunk({"time": 12}), time_chunk=24)
    pred.to_zarr(tmp_path / "pred.zarr")
    back = xr.open_zarr(tmp_path / "pred.zarr")
    assert back.tas.encoding["chunks"] == (1, 24, 8, 12)
    xr.testing.assert_allclose(back.load(), em.predict(_inputs(ds)), rtol=1e-6, atol=1e-5)


def test_calibrated_lazy_equals_in_memory(data):
    ds, em = data
    assert em.variability.needs_reference  # the baseline's part travels with each block
    eager = em.predict(_inputs(ds), variability="calibrated")
    pred = em.predict(_inputs(ds).chunk({"time": 20}), variability="calibrated", time_chunk=20)
    assert isinstance(pred.tas.data, da.Array)
    xr.testing.assert_allclose(pred.compute(), eager, rtol=1e-6, atol=2e-4)


def test_samples_are_drawn_in_memory(data):
    ds, em = data
    eager = em.predict(_inputs(ds), samples=2, seed=3)
    drawn = em.predict(_inputs(ds).chunk({"time": 12}), samples=2, seed=3)
    assert not isinstance(drawn.tas.data, da.Array)
    xr.testing.assert_allclose(drawn, eager, rtol=1e-6, atol=1e-5)
    with pytest.raises(ConfigError, match=r"lazy: samples=2 .* got lazy=True"):
        em.predict(_inputs(ds).chunk({"time": 12}), samples=2, seed=3, lazy=True)


def test_in_memory_input_made_lazy_on_request(data):
    ds, em = data
    pred = em.predict(_inputs(ds), lazy=True, time_chunk=30)
    assert pred.tas.chunks[1] == (30, 30)
    xr.testing.assert_allclose(pred.compute(), em.predict(_inputs(ds)), rtol=1e-6, atol=1e-5)
    eager = em.predict(_inputs(ds).chunk({"time": 12}), lazy=False)
    assert not isinstance(eager.tas.data, da.Array)


def test_chunking_that_cannot_work_is_refused(data):
    ds, em = data
    lazy = _inputs(ds).chunk({"time": 6})
    with pytest.raises(ConfigError, match=r"time_chunk: expected an integer of at least the emulator's window "
                                          r"\(12 months\).*got 6"):
        em.predict(lazy, time_chunk=6)
    with pytest.raises(ConfigError, match=r"time_chunk: sets the blocks of a lazy prediction; got time_chunk=24"):
        em.predict(_inputs(ds), time_chunk=24)
    with pytest.raises(ConfigError, match=r"lazy: expected True, False or None; got 'yes'"):
        em.predict(lazy, lazy="yes")
    short = lazy.isel(time=slice(0, 8))
    with pytest.raises(DataError, match=r"needs at least 12 consecutive months"):
        em.predict(short)
    gap = xr.concat([lazy.isel(time=slice(0, 24)), lazy.isel(time=slice(36, 60))], "time")
    with pytest.raises(DataError, match=r"without gaps; got 48 months with gaps"):
        em.predict(gap)


def test_bad_values_surface_when_computed(data):
    ds, em = data
    lazy = _inputs(ds).chunk({"time": 12})
    lazy["SO2"] = lazy.SO2.where(lazy.time != lazy.time[40])
    pred = em.predict(lazy, time_chunk=12)  # the values are checked by the block that reads them
    with pytest.raises(DataError, match=r"inputs\['SO2'\].*NaN"):
        pred.compute()


def test_time_blocks():
    assert time_blocks(1021, 12, chunks=[12] * 85 + [1]) == [
        *[(a, a + MIN_BLOCK_MONTHS) for a in range(0, 960, MIN_BLOCK_MONTHS)], (960, 1021)]
    assert time_blocks(13, 12) == [(0, 13)]
    with pytest.raises(DataError, match=r"chunks: the time chunks \(5, 5\) cover 10 months; the series has 12"):
        time_blocks(12, 12, chunks=[5, 5])


def test_predict_many_on_a_local_cluster(data):
    distributed = pytest.importorskip("distributed")
    ds, em = data
    inputs = _inputs(ds)
    parts = {str(s): inputs.sel(scenario=[s]).chunk({"time": 24}) for s in inputs.scenario.values}
    with dask.config.set({"distributed.worker.daemon": False}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        preds = predict_many(em, parts, client=client, time_chunk=24)
        assert set(preds) == set(parts)
        computed = dask.compute(preds)[0]
        held = client.run(lambda dask_worker: sorted(type(v).__name__ for v in dask_worker.data.values()))
    eager = em.predict(inputs)
    for s, pred in computed.items():
        xr.testing.assert_allclose(pred, eager.sel(scenario=[s]), rtol=1e-6, atol=1e-5)
    # the emulator was shipped once to each worker (scattered), not with every task
    assert [types.count("Emulator") for types in held.values()] == [1, 1], held
    with pytest.raises(DataError, match="datasets: expected a Dataset, a dict or a list of Datasets; got int"):
        predict_many(em, 3, client=None)


def test_folded_network_follows_the_current_weights(data):
    """predict runs a copy of the network with batch norm folded in; a change of the weights is seen."""
    import torch

    ds, em = data
    forcing = _inputs(ds).sel(scenario=["high"])
    before = em.predict(forcing).tas.values
    saved = {k: v.clone() for k, v in em.net.state_dict().items()}
    try:
        with torch.no_grad():
            em.net.heads[0].net[-1].bias.add_(1.0)  # tas's head: +1 on the network's scaled output
        after = em.predict(forcing).tas.values
        assert np.allclose(after - before, em.meta["target_scale"][0], atol=1e-3)
    finally:
        em.net.load_state_dict(saved)
    assert np.allclose(em.predict(forcing).tas.values, before, atol=1e-5)


def test_global_range_warning_is_the_in_memory_one(data):
    """A baseline with history warns about its global-mean series once, over the whole series,
    as in memory; not about each block's series, which restarts at the block's first month."""
    ds, em = data
    assert em.baseline.history  # the energy-balance default
    hot = _inputs(ds).isel(scenario=[0]).copy()
    hot["CO2"] = hot.CO2 * 3  # the world warms beyond the training range
    hot["CO2"].attrs = ds.CO2.attrs

    def messages(**options):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            em.predict(hot, **options).compute()
        return [str(w.message) for w in caught if "of the energy-balance model" in str(w.message)]

    eager = messages()
    assert len(eager) == 1 and "beyond the training range" in eager[0], eager
    assert messages(lazy=True, time_chunk=12) == eager


def test_a_process_predicts_one_block_at_a_time_and_reads_a_one_block_series_once(data, monkeypatch):
    """``BLOCKS_AT_ONCE`` (1 by default): however many dask threads run, a process predicts one
    block at a time (memory holds one block's working set), two with ``BLOCKS_AT_ONCE = 2``; a
    sample predicted in one block reads its inputs once (no task of its own for the baseline's
    global-mean series). The predictions equal the in-memory one; a bad value is refused."""
    import threading
    import time

    import xemu.scale.lazy as lazy

    ds, em = data
    eager = em.predict(_inputs(ds))
    assert em.baseline.history and lazy.BLOCKS_AT_ONCE == 1
    state, guard, reads = {"now": 0, "most": 0}, threading.Lock(), []
    predict, forced, read = em.predict, em.forced_response, lazy._Unread.read

    def counted_forced(*args, **kwargs):  # what each block runs
        with guard:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.2)  # the other thread has time to start its block
        try:
            return forced(*args, **kwargs)
        finally:
            with guard:
                state["now"] -= 1

    def counted_read(self):
        reads.append(self.ds.sizes)
        return read(self)

    monkeypatch.setattr(em, "forced_response", counted_forced)
    monkeypatch.setattr(lazy._Unread, "read", counted_read)
    with dask.config.set(scheduler="threads", num_workers=2):
        out = predict(_inputs(ds).chunk({"time": 25})).compute()
        assert state["most"] == 1 and len(reads) == ds.sizes["scenario"]  # one block per series
        xr.testing.assert_allclose(out, eager, rtol=1e-6, atol=1e-5)
        monkeypatch.setattr(lazy, "BLOCKS_AT_ONCE", 2)
        state["most"] = 0
        xr.testing.assert_allclose(predict(_inputs(ds).chunk({"time": 25})).compute(), eager, rtol=1e-6, atol=1e-5)
        assert state["most"] == 2
        monkeypatch.setattr(lazy, "BLOCKS_AT_ONCE", 0)
        with pytest.raises(ConfigError, match=r"BLOCKS_AT_ONCE: expected an integer >= 1; got 0"):
            predict(_inputs(ds).chunk({"time": 25})).compute()


def test_a_prediction_leaves_its_inputs_as_they_were(data):
    """The in-memory prediction normalises the network's input in place: in its own array, never
    in the user's Dataset."""
    ds, em = data
    inputs = _inputs(ds)
    before = inputs.copy(deep=True)
    em.predict(inputs)
    xr.testing.assert_identical(inputs, before)
