"""Training streamed from a store (xemu/stream.py): the same fit as in memory, block by block."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

import xemu
from xemu.baselines import regression as rg
from xemu.data.checks import month_index
from xemu.data.prepare import holdout_mask, prepare
from xemu.data.windows import WindowLoader, define_windows
from xemu.scale.blocks import BlockSource as _Source
from xemu.scale.blocks import Layout as _Layout
from xemu.scale.blocks import skeleton as _skeleton
from xemu.scale.loader import StreamLoader
from xemu.testing import TINY_CONFIG

pytest.importorskip("zarr")

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
HOLDOUT = {"scenario": "mid", "member": 0, "time": slice("2017-01", None)}
POORLY = "ignore:inputs. the training design is poorly conditioned"


def _write(ds: xr.Dataset, path, chunks: dict) -> xr.Dataset:
    with warnings.catch_warnings():  # zarr 3: string coordinates are not in the v3 spec yet
        warnings.simplefilter("ignore")
        ds.chunk(chunks).to_zarr(path, mode="w")
        return xr.open_zarr(path)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The synthetic climate (3 scenarios x 3 members x 36 months, 8 x 12) as Zarr: chunks of 12 months,
    chunks also split along lat and lon, and chunks of 3 months (the passes before training read 4 blocks at
    a time: blocks of 3 or 6 months give them several reads per sample); plus the same data in memory, and
    with ``gmt``, a global-mean temperature input (degC) for the energy-balance baseline's ``roles={"gmt": ...}``."""
    ds = xemu.synthetic_climate(n_years=3, n_lat=8, n_lon=12, seed=0)
    root = tmp_path_factory.mktemp("stream")
    lazy = _write(ds, root / "time.zarr", {"time": 12})
    split = _write(ds, root / "grid.zarr", {"time": 12, "lat": 3, "lon": 5})
    fine = _write(ds, root / "fine.zarr", {"time": 3})
    gmt = ds.tas_forced.weighted(np.cos(np.deg2rad(ds.lat))).mean(("lat", "lon")) - 273.15
    with_gmt = _write(ds.assign(gmt=gmt.assign_attrs(units="degC")), root / "gmt.zarr", {"time": 3})
    return {"lazy": lazy, "grid": split, "fine": fine, "gmt": with_gmt, "eager": lazy.compute(),
            "eager_gmt": with_gmt.compute()}  # (load() would read ``lazy`` in place)


def _loader_pair(ds, eager, *, block_months=12, batch_size=16):
    """A StreamLoader over ``ds`` and the WindowLoader of the in-memory path, both serving the raw prepared
    inputs, targets and (as extra, which is per input sample) the first two input channels."""
    p = prepare(eager, INPUTS, TARGETS)
    held = holdout_mask(p, HOLDOUT)
    index = define_windows(~held, month_index(p.time), length=12, stride=1)
    x = torch.from_numpy(p.inputs.reshape(-1, *p.inputs.shape[2:]))
    y = torch.from_numpy(p.targets.reshape(-1, *p.targets.shape[2:]))
    ref = WindowLoader(index, x, p.time.size, y, p.target_to_input, batch_size=batch_size, extra=x[:, :2])
    sk = _skeleton(ds, INPUTS, TARGETS)
    opts = {"block_months": block_months, "buffer_blocks": 2, "prefetch_blocks": 2}
    src = _Source(ds, sk, INPUTS, TARGETS, "sincos", "position", opts)

    def load(s, a, e):
        xb, yb = src.train_block(s, a, e)
        return torch.from_numpy(xb), torch.from_numpy(yb), torch.from_numpy(xb[:, :2])

    return StreamLoader(index, src.lay.edges, load, batch_size=batch_size, buffer_blocks=2, prefetch_blocks=2), ref


@pytest.mark.parametrize(("which", "block_months"), [("lazy", 12), ("grid", 24), ("eager", 24)])
def test_streamed_batches_equal_in_memory(stores, which, block_months):
    """Unshuffled, the streaming loader yields the in-memory loader's windows, bit for bit, in the same order:
    from a Zarr store chunked along time, one also chunked along lat/lon (blocks read the whole grid), and
    a Dataset in memory (stream=True works there too, in blocks of ``block_months``)."""
    loader, ref = _loader_pair(stores[which], stores["eager"], block_months=block_months, batch_size=32)
    assert loader.n_blocks > 9  # several blocks per sample, windows running into the next block
    order = loader.order(0)
    np.testing.assert_array_equal(order, ref.order(0))
    for b in range(0, order.size, 32):
        for got, want in zip(loader.batch(order[b : b + 32]), ref.batch(order[b : b + 32]), strict=True):
            assert torch.equal(got, want)
    assert loader.loads == loader.n_blocks  # each block read once
    loader.close()


def test_plan_reads_each_block_once(stores):
    """``plan`` (a rank's share of each global batch under DDP) drives the reads: the planned windows come
    out right, and every block holding one is read once."""
    loader, ref = _loader_pair(stores["lazy"], stores["eager"])
    loader.shuffle = True
    order = loader.order(3)
    mine = [order[b : b + 16][1::2] for b in range(0, order.size, 16)]  # rank 1 of 2
    loader.plan(mine)
    for ids in mine:
        for got, want in zip(loader.batch(ids), ref.batch(ids), strict=True):
            assert torch.equal(got, want)
    assert loader.loads == np.unique(loader._block[np.concatenate(mine)]).size
    loader.close()


def _fake_loader(*, shuffle=True, buffer_blocks=3, prefetch_blocks=2):
    """A StreamLoader over 4 samples x 60 months in blocks of 10, whose 'data' is 1000 * sample + month."""
    valid = np.ones((4, 60), bool)
    valid[2, 30:] = False  # a gap: windows never cross it
    index = define_windows(valid, np.arange(60), length=12, stride=1)
    edges = np.arange(0, 61, 10)

    def load(s, a, e):
        t = torch.arange(a, e, dtype=torch.float64)[:, None, None, None] + 1000 * s
        return t, t.float(), -t

    return StreamLoader(index, edges, load, batch_size=8, shuffle=shuffle, seed=5, buffer_blocks=buffer_blocks,
                        prefetch_blocks=prefetch_blocks)


def test_shuffled_epoch_visits_every_window_once_and_mixes_blocks():
    loader = _fake_loader()
    order = loader.order(0)
    assert np.array_equal(np.sort(order), np.arange(len(loader.index)))  # every window once
    np.testing.assert_array_equal(order, _fake_loader().order(0))  # seeded
    assert not np.array_equal(order, loader.order(1))  # another permutation next epoch
    blocks = loader._block[order]
    assert np.unique(blocks[:8]).size > 1  # a batch mixes blocks
    # windows come as groups of buffer_blocks blocks: never more than 3 blocks open at once
    first, last = {}, {}
    for i, k in enumerate(blocks):
        first.setdefault(k, i)
        last[k] = i
    assert max(sum(first[k] <= i <= last[k] for k in first) for i in range(blocks.size)) <= 3
    steps = np.arange(12)
    loader.order(0)
    for b in range(0, order.size, 8):
        ids = order[b : b + 8]
        x, y, extra = loader.batch(ids)
        want = 1000 * loader.index.sample[ids][:, None] + loader.index.start[ids][:, None] + steps
        np.testing.assert_array_equal(x[:, :, 0, 0, 0].numpy(), want)
        np.testing.assert_array_equal(extra[:, :, 0, 0, 0].numpy(), -want)
    assert loader.loads == loader.n_blocks  # each block read once in the epoch
    assert loader.most_held <= 3 + 2  # the open group plus those read ahead
    loader.close()


def test_truncated_epochs_restart_the_schedule():
    """train() takes a prefix of each epoch's order (windows_per_epoch); the next epoch's order starts afresh."""
    loader = _fake_loader()
    for epoch in range(3):
        order = loader.order(epoch)[:20]
        for b in range(0, 20, 8):
            x = loader.batch(order[b : b + 8])[0]
            assert x.shape[0] == min(8, 20 - b)
    loader.close()


def _fit(ds, **kw):
    # baseline "linear" unless named: these tests follow the linear baseline's sums (the energy-balance
    # baseline, what "auto" is here, has tests of its own below)
    options = dict(config=TINY_CONFIG, epochs=2, windows_per_epoch=64, batch_size=16, seed=0, progress=False,
                   variability=False, shuffle=False, holdout=HOLDOUT, baseline="linear")
    return xemu.fit(ds, INPUTS, TARGETS, **{**options, **kw})


@pytest.mark.filterwarnings(POORLY)
def test_streamed_fit_equals_in_memory_fit(stores, tmp_path):
    """A fit streamed from Zarr equals the in-memory fit (same seed and windows, shuffle off).

    Tolerances: the input statistics are sums in another order (rtol 1e-12); the residual scale is computed
    from sums against the float64 baseline, the in-memory one against its float32 rounding (rtol 1e-6); the
    baseline's coefficients come from sums instead of the targets themselves (1e-9 of their largest value).
    The networks then train on the same tensors unless a float32 rounding of the scale differs: losses to
    rtol 1e-5, weights to 1e-5.
    """
    mem = _fit(stores["eager"])
    streamed = _fit(stores["lazy"], stream={"block_months": 24})
    m, s = mem.meta, streamed.meta
    np.testing.assert_allclose(s["input_mean"], m["input_mean"], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(s["input_std"], m["input_std"], rtol=1e-12)
    np.testing.assert_allclose(s["target_scale"], m["target_scale"], rtol=1e-6)
    assert s["input_ranges"] == m["input_ranges"]
    assert (s["n_train_windows"], s["n_val_windows"]) == (m["n_train_windows"], m["n_val_windows"])
    for name in TARGETS:
        a, b = mem.baseline.params[f"coef_{name}"].values, streamed.baseline.params[f"coef_{name}"].values
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-9 * np.abs(a).max())
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose([r[key] for r in s["history"]], [r[key] for r in m["history"]], rtol=1e-5)
    for a, b in zip(mem.net.state_dict().values(), streamed.net.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    assert "trained streamed" in s["notes"][-1]
    again = xemu.load(streamed.save(tmp_path / "streamed.xemu"))  # the metadata passes the emulator schema
    assert again.meta["target_scale"] == s["target_scale"]


@pytest.mark.filterwarnings(POORLY)
def test_streamed_checkpoint_resumes(stores, tmp_path):
    options = dict(stream=True, shuffle=True, checkpoint=tmp_path / "run.ckpt", epochs=1)
    first = _fit(stores["lazy"], **options)
    again = _fit(stores["lazy"], **options)  # resumes: nothing left to train
    assert all(torch.equal(a, b) for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values(),
                                                 strict=True))
    with pytest.raises(xemu.ConfigError, match="written by another run"):
        _fit(stores["lazy"], **{**options, "stream": {"block_months": 24}})  # another block layout, another order


@pytest.mark.filterwarnings(POORLY)
@pytest.mark.parametrize(("scenarios", "block_months", "how", "passes"), [
    (["low", "mid", "high"], 120, "leave one forcing sample out (3 folds)", 1),  # every fold held in one pass
    (["low", "mid", "high"], 12, "leave one forcing sample out (3 folds)", 2),  # a second pass, fold by fold
    (["low", "high"], 12, "5 contiguous blocks of time", 2),
])
def test_streamed_ridge_equals_in_memory(stores, monkeypatch, scenarios, block_months, how, passes):
    """The linear baseline fitted from sums over blocks: the same coefficients (to 1e-9 of the largest), the
    same ridge strength, the same cross-validated errors (rtol 1e-9), with >= 3 and < 3 forcing samples."""
    calls = []
    target_pass = _Source.target_pass
    monkeypatch.setattr(_Source, "target_pass", lambda self, order=None: calls.append(1) or target_pass(self, order))
    lazy, eager = (stores[k].sel(scenario=scenarios) for k in ("lazy", "eager"))
    holdout = {**HOLDOUT, "scenario": scenarios[-1]}
    mem = xemu.LinearPatternScaling().fit(eager, INPUTS[:4], TARGETS, holdout=holdout, variability=False)
    streamed = xemu.fit(lazy, INPUTS[:4], TARGETS, model="linear", holdout=holdout, variability=False,
                        stream={"block_months": block_months})
    a, b = mem.params, streamed.params
    assert a.alpha.attrs["choice"] == b.alpha.attrs["choice"] == how
    np.testing.assert_array_equal(b.alpha.values, a.alpha.values)
    np.testing.assert_allclose(b.cv_error.values, a.cv_error.values, rtol=1e-9)
    for name in TARGETS:
        ref = a[f"coef_{name}"].values
        np.testing.assert_allclose(b[f"coef_{name}"].values, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    for name in ("input_mean", "input_std", "input_min", "input_max"):
        np.testing.assert_array_equal(b[name].values, a[name].values)
    assert b.attrs["xemu_meta"] == a.attrs["xemu_meta"]
    assert len(calls) == passes  # passes over the targets


@pytest.mark.parametrize("groups", [5, 2])
def test_ridge_from_sums_equals_arrays(groups):
    """The ridge fit and its cross-validation from blockwise sums equal the array versions (float rounding)."""
    rng = np.random.default_rng(groups)
    n, k, v, p = 240, 3, 2, 20
    z = rng.normal(size=(n, k))
    z[:, 2] = 0.98 * z[:, 1] + 0.02 * rng.normal(size=n)  # nearly collinear, as SO2 and BC
    y = (280 + z @ rng.normal(size=(k, v * p)) + rng.normal(size=(n, v * p))).reshape(n, v, p)
    months = np.arange(n) % 12 + 1
    folds, _ = rg.cv_folds(np.repeat(np.arange(groups), n // groups), np.arange(n))
    w = rng.uniform(0.2, 1.0, p)
    totals = rg.RidgeSums(z, w)
    for rows in np.array_split(rng.permutation(n), 7):
        totals.add(rows, y[rows], months[rows])
    by_fold = np.argsort(folds, kind="stable")
    got = rg.choose_alpha_sums(z, months, folds, w, totals, [(r, y[r]) for r in np.array_split(by_fold, 9)])
    want = rg.choose_alpha(z, y, months, folds, w)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    sel = months == 4
    b0, c0 = rg.ridge_fit(z[sel], y[sel, 1], 0.01)
    b1, c1 = rg.ridge_fit_sums(z[sel], totals.sy(4)[1], totals.szy(4)[:, 1], 0.01)
    np.testing.assert_allclose(b1, b0, rtol=1e-10)
    np.testing.assert_allclose(c1 + totals.shift[1], c0, rtol=1e-12)


def test_stream_errors(stores):
    with pytest.raises(xemu.ConfigError, match=r"variability: expected False with model='linear' and stream=True "
                                               r"\(.*\); got True"):
        xemu.fit(stores["lazy"], INPUTS, TARGETS, model="linear", stream=True)  # variability defaults to True
    with pytest.raises(xemu.ConfigError, match=r"baseline_options\['variability'\]: expected False or absent with "
                                               r"stream=True .*; got 'parametric'"):
        xemu.fit(stores["lazy"], INPUTS, TARGETS, stream=True, baseline_options={"variability": "parametric"})
    with pytest.raises(xemu.ConfigError, match=r"variability: expected True .* got 'sometimes'"):
        xemu.fit(stores["lazy"], INPUTS, TARGETS, stream=True, variability="sometimes")  # before any pass
    with pytest.raises(xemu.ConfigError, match=r"stream: expected True, False or a dict"):
        xemu.fit(stores["lazy"], INPUTS, TARGETS, stream="yes", variability=False)
    with pytest.raises(xemu.ConfigError, match=r"stream\['block_months'\]: expected an integer >= 1; got 0"):
        xemu.fit(stores["lazy"], INPUTS, TARGETS, stream={"block_months": 0}, variability=False)
    with pytest.raises(xemu.ConfigError, match=r"stream: unknown options \['chunk'\]"):
        stores["lazy"].emu.fit(INPUTS, TARGETS, stream={"chunk": 3}, variability=False)  # the accessor forwards
    with pytest.raises(xemu.ConfigError, match=r"alpha: expected a finite number >= 0 or 'cv'; got -1"):
        xemu.fit(stores["lazy"], INPUTS, TARGETS, stream=True, variability=False, baseline="linear",
                 baseline_options={"alpha": -1})


def test_blocks_follow_time_chunks(stores):
    assert stores["lazy"].tas.chunks is not None
    sk = _skeleton(stores["lazy"], INPUTS, TARGETS)
    assert _Layout(stores["lazy"], sk, 1).edges.tolist() == [0, 12, 24, 36]  # never inside a chunk
    assert _Layout(stores["lazy"], sk, 20).edges.tolist() == [0, 24, 36]
    assert _Layout(stores["eager"], sk, 20).edges.tolist() == [0, 20, 36]  # no chunks: months


# -- internal variability, streamed ---------------------------------------------------------------
@pytest.mark.filterwarnings(POORLY)
@pytest.mark.parametrize("method", ["bootstrap", "parametric"])
def test_streamed_variability_equals_in_memory_fit(stores, tmp_path, method):
    """``fit(..., stream=True, variability=method)`` learns the in-memory fit's variability: the same residual
    model and, for the same seed, the same samples and calibrated prediction (before and after save/load).

    The networks train on the same tensors (test_streamed_fit_equals_in_memory_fit: weights to 1e-5; here
    identical); the residual models then agree to float rounding (see test_streamed_variability_from_blocks for
    what is bit for bit). The variance ratio of the calibrated prediction is the one part taken in float32 in
    memory, and so the internal variance (the difference of two such variances): rtol 1e-6 (atol 1e-4 of the
    largest, for the difference), so the calibrated prediction agrees to a few float32 roundings of its values.
    """
    mem = _fit(stores["eager"], variability=method)
    streamed = _fit(stores["lazy"], stream={"block_months": 24}, variability=method)
    assert streamed.meta["variability"] == mem.meta["variability"]
    a, b = mem.variability.to_dataset(), streamed.variability.to_dataset()
    assert list(b.data_vars) == list(a.data_vars) and b.attrs == a.attrs
    for name in a.data_vars:
        assert b[name].dims == a[name].dims and b[name].dtype == a[name].dtype and b[name].attrs == a[name].attrs
        ref = a[name].values
        f32 = name.endswith(("variance_ratio", "internal_variance"))
        np.testing.assert_allclose(b[name].values, ref, rtol=1e-6 if f32 else 1e-9,
                                   atol=(1e-4 if f32 else 1e-9) * np.abs(ref).max(), err_msg=name)
    x = stores["eager"].sel(scenario=["mid", "high"])
    again = xemu.load(streamed.save(tmp_path / "streamed.xemu"))
    for em in (streamed, again):
        samples, want = em.predict(x, samples=3, seed=7), mem.predict(x, samples=3, seed=7)
        calibrated, want_calibrated = em.predict(x, variability="calibrated"), mem.predict(x, variability="calibrated")
        for name in TARGETS:
            scale = float(abs(want[name]).max())
            np.testing.assert_allclose(samples[name].values, want[name].values, rtol=0, atol=1e-5 * scale)
            np.testing.assert_allclose(calibrated[name].values, want_calibrated[name].values, rtol=0,
                                       atol=1e-6 * scale)


def _blocks_in_any_order(held: np.ndarray, n_time: int, size: int, seed: int) -> list[tuple[int, int, int]]:
    """``(sample, start, stop)`` of blocks of ``size`` months of every sample, shuffled."""
    blocks = [(s, a, min(a + size, n_time)) for s in range(held.shape[0]) for a in range(0, n_time, size)]
    order = np.random.default_rng(seed).permutation(len(blocks))
    return [blocks[k] for k in order]


@pytest.mark.parametrize(("method", "n_lat", "n_lon", "budget", "exact", "reference"), [
    ("bootstrap", 8, 12, 2**20, ("residuals",), False),
    ("bootstrap", 8, 12, 2**20, ("residuals",), True),  # the internal variance against the baseline's part
    ("parametric", 8, 12, 2**15, ("sigma", "quantiles"), False),  # N > P: the P x P Gram matrix summed over chunks
    ("parametric", 16, 24, 2**15, ("sigma", "quantiles", "eofs", "pc_variance", "pc_phi", "remainder_variance",
                                   "remainder_phi"), False),  # N < P: the maps read back whole, the in-memory fit
])
def test_streamed_variability_from_blocks(method, n_lat, n_lon, budget, exact, reference):
    """StreamedVariability, given the truth and one prediction block by block in shuffled order, learns what
    fit_variability learns from the whole arrays: bit for bit where named (``exact``: the bootstrap's kept years;
    the parametric scale and quantiles, and every parameter when there are fewer maps than cells); the EOF part
    to 1e-11 when its Gram matrix is summed over chunks (a budget of a few rows); the variance ratio to float32
    rounding (rtol 1e-6). With the baseline's part of the prediction as ``reference`` (a CNN-GRU on a
    baseline), the internal variance against it, to the same rounding."""
    from xemu.variability.core import fit_variability
    from xemu.variability.streamed import StreamedVariability

    ds = xemu.synthetic_climate(n_years=3, n_lat=n_lat, n_lon=n_lon, seed=0)
    p = prepare(ds, INPUTS, TARGETS)
    held = holdout_mask(p, HOLDOUT)
    rng = np.random.default_rng(1)
    values = p.targets.reshape(3, 3, *p.targets.shape[1:]).mean(1) + rng.normal(size=(3, 1, 2, 1, 1))
    values = np.maximum(values, 0).astype(np.float32)  # a prediction per scenario, non-negative
    base = (0.5 * values + 0.1).astype(np.float32) if reference else None  # another series: the baseline's part
    want = fit_variability(p, values, held, method=method, reference=base).to_dataset()
    assert (want.attrs["xemu_variability_calibration"] == "the baseline's variance and internal variance per block") \
        == reference
    acc = StreamedVariability.start(p, held, method, budget=budget, reference=reference)
    for s, a, e in _blocks_in_any_order(held, p.time.size, 7, seed=2):
        i = p.target_to_input[s]
        acc.add(s, a, p.targets[s, a:e], values[i, a:e], *((base[i, a:e],) if reference else ()))
    got = acc.finish().to_dataset()
    xr.testing.assert_identical(got.drop_vars(list(got.data_vars)), want.drop_vars(list(want.data_vars)))
    for name in want.data_vars:
        part = name.split("__", 1)[1]
        assert got[name].attrs == want[name].attrs and got[name].dtype == want[name].dtype, name
        if part in exact:
            np.testing.assert_array_equal(got[name].values, want[name].values, err_msg=name)
        else:
            ref = want[name].values
            f32 = part in ("variance_ratio", "internal_variance")
            np.testing.assert_allclose(got[name].values, ref, rtol=1e-6 if f32 else 1e-11,
                                       atol=(1e-4 if f32 else 1e-11) * np.abs(ref).max(), err_msg=name)


def test_streamed_variability_unlearnable_warns(stores):
    """Too few consecutive training months: the streamed fit warns as the in-memory fit does and keeps no model."""
    holdout = {"time": slice("2016-01", None)}  # 12 training months per sample
    with pytest.warns(UserWarning, match=r"variability: the longest run of consecutive training months is 12"):
        em = _fit(stores["lazy"], stream=True, variability=True, holdout=holdout, epochs=1)
    assert em.variability is None and em.meta["variability"] is None


# -- the energy-balance baseline, streamed ---------------------------------------------------------
EB_INPUTS = INPUTS[:4]  # the forcings with a role (rsdt has none)


def _assert_same_energy_balance(got, want):
    """``got`` (streamed) has ``want``'s parameters: the same variables, metadata and attributes, the global
    model's parameters and ranges to rtol 1e-12 (bit for bit as measured: the same global means, the same
    fit), the patterns to 1e-12 of their largest value (measured: 2.4e-15 for tas, 6.2e-16 for pr; sums of
    the targets instead of the targets themselves)."""
    a, b = want.params, got.params
    assert list(b.data_vars) == list(a.data_vars) and b.attrs == a.attrs  # meta, roles, temperature
    for name in a.data_vars:
        ref = a[name].values
        if name.startswith("coef_"):
            np.testing.assert_allclose(b[name].values, ref, rtol=0, atol=1e-12 * np.abs(ref).max(), err_msg=name)
        else:
            np.testing.assert_allclose(b[name].values, ref, rtol=1e-12, err_msg=name)
        attrs, ref_attrs = dict(b[name].attrs), dict(a[name].attrs)
        np.testing.assert_allclose(attrs.pop("offset", 0.0), ref_attrs.pop("offset", 0.0), rtol=1e-12)
        assert attrs == ref_attrs, name
    assert got.global_response.how == want.global_response.how


@pytest.mark.parametrize(("store", "block_months", "options", "reads"), [
    ("fine", 3, {}, 3),  # 3 reads of 12 months per sample and pass; the strength chosen leaving a scenario out
    ("fine", 6, {"free": ["tcre", "aerosol"], "strength": 0.01}, 2),
    ("lazy", 36, {}, 1),  # the whole series in one read
    ("gmt", 3, {"roles": {"gmt": "gmt"}}, 3),  # the patterns on the user's global mean: no global model
])
def test_streamed_energy_balance_equals_in_memory(stores, monkeypatch, store, block_months, options, reads):
    """``fit(model="energy-balance", stream=True)`` fits the in-memory baseline (``_assert_same_energy_balance``)
    from one pass over the temperature target (its global means; none with a ``"gmt"`` input) and one over the
    targets (the patterns' sums), whatever the blocks; the predictions agree to float32 rounding (rtol 1e-6;
    measured: identical)."""
    passes = []
    target_pass = _Source.target_pass
    monkeypatch.setattr(_Source, "target_pass",
                        lambda self, order=None, names=None: passes.append(names) or target_pass(self, order, names))
    gmt = "roles" in options
    inputs, eager = (["gmt"], stores["eager_gmt"]) if gmt else (EB_INPUTS, stores["eager"])
    mem = xemu.EnergyBalancePatternScaling().fit(eager, inputs, TARGETS, holdout=HOLDOUT, variability=False,
                                                 **options)
    streamed = xemu.fit(stores[store], inputs, TARGETS, model="energy-balance", holdout=HOLDOUT, variability=False,
                        stream={"block_months": block_months}, **options)
    assert passes == ([None] if gmt else [["tas"], None])
    assert len(_Layout(stores[store], _skeleton(stores[store], inputs, TARGETS), block_months).pass_spans) == reads
    _assert_same_energy_balance(streamed, mem)
    x = eager.sel(scenario=["mid", "high"])
    got, want = streamed.predict(x), mem.predict(x)
    for name in TARGETS:
        np.testing.assert_allclose(got[name].values, want[name].values, rtol=1e-6, err_msg=name)


def test_streamed_energy_balance_saves_and_loads(stores, tmp_path):
    """A streamed energy-balance baseline saves to netCDF and loads back: the same parameters, the same
    predictions (bit for bit)."""
    streamed = xemu.fit(stores["fine"], EB_INPUTS, TARGETS, model="energy-balance", holdout=HOLDOUT,
                        variability=False, stream={"block_months": 6})
    again = xemu.load(streamed.save(tmp_path / "eb.nc"))
    assert isinstance(again, xemu.EnergyBalancePatternScaling)
    xr.testing.assert_identical(again.params, streamed.params)
    x = stores["eager"].sel(scenario=["high"])
    xr.testing.assert_identical(again.predict(x).drop_attrs(), streamed.predict(x).drop_attrs())


def test_streamed_auto_baseline_is_energy_balance_and_equals_in_memory(stores, tmp_path):
    """Streamed, ``baseline="auto"`` (the default) is the energy-balance baseline, as in memory, on the same
    inputs (those with a role); the streamed CNN-GRU on it equals the in-memory fit (same seed and windows,
    shuffle off): the baseline (``_assert_same_energy_balance``), the target scale (rtol 1e-6; measured 4.3e-9:
    the in-memory scale is taken against the baseline's float32 prediction), the losses and weights (rtol
    1e-5; measured identical), the predictions (rtol 1e-5; measured identical), also after save and load."""
    mem = _fit(stores["eager"], baseline="auto")
    streamed = _fit(stores["lazy"], baseline="auto", stream={"block_months": 12})
    m, s = mem.meta, streamed.meta
    assert s["baseline"] == m["baseline"] == "energy-balance" and streamed.baseline.kind == "energy-balance"
    assert s["baseline_inputs"] == m["baseline_inputs"] == EB_INPUTS
    _assert_same_energy_balance(streamed.baseline, mem.baseline)
    np.testing.assert_allclose(s["target_scale"], m["target_scale"], rtol=1e-6)
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose([r[key] for r in s["history"]], [r[key] for r in m["history"]], rtol=1e-5)
    for a, b in zip(mem.net.state_dict().values(), streamed.net.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    x = stores["eager"].sel(scenario=["mid", "high"])
    want = mem.predict(x)
    for em in (streamed, xemu.load(streamed.save(tmp_path / "streamed-eb.xemu"))):
        assert em.meta["baseline"] == "energy-balance"
        got = em.predict(x)
        for name in TARGETS:
            np.testing.assert_allclose(got[name].values, want[name].values, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize(("kw", "error", "message"), [
    ({"model": "energy-balance", "variability": True}, xemu.ConfigError,
     r"variability: expected False with model='energy-balance' and stream=True \(a baseline streamed alone .*\); "
     r"got True"),
    ({"baseline_options": {"variability": "bootstrap"}}, xemu.ConfigError,
     r"baseline_options\['variability'\]: expected False or absent with stream=True .*; got 'bootstrap'"),
    ({"model": "energy-balance", "temperature": "ts"}, None, None),  # the in-memory messages, before any read
    ({"baseline_options": {"free": ["tcre", "albedo"]}}, None, None),
    ({"baseline_options": {"strength": -1}}, None, None),
    ({"baseline_options": {"roles": {"co2": "CO2", "ch4": "CO2"}}}, None, None),
    ({"model": "energy-balance", "roles": {"gmt": "tas_forced"}, "inputs": ["tas_forced"]}, None, None),  # a map
])
def test_streamed_energy_balance_errors(stores, monkeypatch, kw, error, message):
    """The streamed energy-balance fit refuses what the in-memory fit refuses, with the same message, before it
    reads any block; and a baseline alone learns no variability when streamed."""
    kw = {"variability": False, **kw}
    inputs = kw.pop("inputs", EB_INPUTS if kw.get("model") else INPUTS)
    if error is None:  # what the in-memory fit says
        with pytest.raises(xemu.XemuError) as err, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xemu.fit(stores["eager"], inputs, TARGETS, **kw)
        error, message = type(err.value), "^" + re.escape(str(err.value)) + "$"

    def never(*args, **kwargs):
        raise AssertionError("a block was read")

    monkeypatch.setattr(_Source, "read_inputs", never)
    monkeypatch.setattr(_Source, "read_targets", never)
    with pytest.raises(error, match=message):
        xemu.fit(stores["lazy"], inputs, TARGETS, stream=True, **kw)


def test_streamed_energy_balance_refuses_a_month_without_distinct_global_means(stores):
    """One scenario trained on one year: each calendar month's members share one global mean; the streamed fit
    says so as the in-memory fit does (after its global model, before the patterns' pass)."""
    kw = {"model": "energy-balance", "variability": False, "holdout": {"time": slice("2016-01", None)}}
    message = r"^ds: calendar month 1 has 3 training months with distinct global means; the patterns need at least 2$"
    for ds, stream in ((stores["eager"], False), (stores["lazy"], True)):
        with pytest.raises(xemu.DataError, match=message):
            xemu.fit(ds.sel(scenario=["low"]), EB_INPUTS, TARGETS, stream=stream, **kw)
