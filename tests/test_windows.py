"""Tests of xemu.windows: window definitions (xbatcher), gaps, and the tensor path against plain slicing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import xemu
from xemu.data.checks import month_index
from xemu.data.windows import WindowIndex, WindowLoader, define_windows, runs
from xemu.errors import ConfigError, DataError


def brute_force(valid: np.ndarray, months: np.ndarray, length: int, stride: int) -> list[tuple[int, int]]:
    """Every (sample, start) whose months are all selected and consecutive, every ``stride`` in a run."""
    out = []
    for s in range(valid.shape[0]):
        t = 0
        while t < valid.shape[1]:
            if not valid[s, t]:
                t += 1
                continue
            a = t  # a run starts here
            while t + 1 < valid.shape[1] and valid[s, t + 1] and months[t + 1] - months[t] == 1:
                t += 1
            b = t + 1
            out += [(s, start) for start in range(a, b - length + 1, stride)]
            t = b
    return out


# --- define_windows -----------------------------------------------------------------------


def test_counts_and_starts():
    w = define_windows(np.ones((2, 14), bool), np.arange(14), length=12, stride=1)
    assert len(w) == 6 and w.length == 12
    assert w.sample.tolist() == [0, 0, 0, 1, 1, 1]
    assert w.start.tolist() == [0, 1, 2, 0, 1, 2]
    exact = define_windows(np.ones((1, 12), bool), np.arange(12), length=12)
    assert exact.start.tolist() == [0]


def test_stride():
    w = define_windows(np.ones((1, 30), bool), np.arange(30), length=12, stride=5)
    assert w.start.tolist() == [0, 5, 10, 15]  # 20 + 12 > 30
    w = define_windows(np.ones((1, 36), bool), np.arange(36), length=12, stride=12)
    assert w.start.tolist() == [0, 12, 24]


def test_windows_never_cross_a_gap_or_an_unselected_month():
    months = np.r_[np.arange(0, 15), np.arange(16, 30)]  # month 15 is missing: positions 0..14 | 15..28
    valid = np.ones((2, months.size), bool)
    valid[1, 20] = False  # sample 1 also drops one selected month
    w = define_windows(valid, months, length=12)
    for s, t in zip(w.sample, w.start, strict=True):
        span = months[t : t + 12]
        assert np.all(np.diff(span) == 1)
        assert valid[s, t : t + 12].all()
    assert w.start[w.sample == 0].tolist() == [0, 1, 2, 3, 15, 16, 17]
    assert w.start[w.sample == 1].tolist() == [0, 1, 2, 3]  # 15..19 and 21..28 are too short


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 8), st.data())
def test_matches_brute_force(n_samples, length, data):
    n_time = data.draw(st.integers(length, 40))
    stride = data.draw(st.integers(1, length))
    valid = np.array(
        data.draw(st.lists(st.booleans(), min_size=n_samples * n_time, max_size=n_samples * n_time))
    )
    valid = valid.reshape(n_samples, n_time) | (np.arange(n_time) < length)  # at least one window
    rest = n_time - length
    steps = [1] * length + data.draw(st.lists(st.sampled_from([1, 1, 1, 2, 5]), min_size=rest, max_size=rest))
    months = np.cumsum(steps)  # ... free of gaps
    w = define_windows(valid, months, length=length, stride=stride)
    assert list(zip(w.sample.tolist(), w.start.tolist(), strict=True)) == brute_force(
        valid, months, length, stride
    )


def test_a_series_shorter_than_one_window_raises():
    with pytest.raises(
        DataError,
        match="ds: a series shorter than one window; the longest run of consecutive "
        "selected months is 10, a window needs 12",
    ):
        define_windows(np.ones((2, 10), bool), np.arange(10), length=12, argument="ds")
    gaps = np.array([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12])  # 12 months, but a gap after 5
    with pytest.raises(DataError, match="longest run of consecutive selected months is 7"):
        define_windows(np.ones((1, 12), bool), gaps, length=12)


@pytest.mark.parametrize("length, stride", [(12, 13), (12, 0), (0, 1)])
def test_bad_length_or_stride(length, stride):
    with pytest.raises(ConfigError, match="stride"):
        define_windows(np.ones((1, 20), bool), np.arange(20), length=length, stride=stride)


def test_valid_must_match_months():
    with pytest.raises(ConfigError, match="valid"):
        define_windows(np.ones((1, 20), bool), np.arange(19), length=12)


def test_runs():
    valid = np.array([1, 1, 0, 1, 1, 1, 1], bool)
    months = np.array([0, 1, 2, 3, 4, 6, 7])
    assert runs(valid, months) == [(0, 2), (3, 5), (5, 7)]
    assert runs(np.zeros(3, bool), np.arange(3)) == []


def test_window_index_rows():
    idx = WindowIndex(length=3, sample=np.array([0, 2, 1]), start=np.array([4, 0, 7]))
    assert idx.rows(10).tolist() == [4, 20, 17]
    assert idx.rows(10, sample_map=np.array([0, 0, 1])).tolist() == [4, 10, 7]


# --- windows of a Dataset -----------------------------------------------------------------


INPUTS = ["CO2", "SO2", "rsdt"]
TARGETS = ["tas", "pr"]


@pytest.fixture(scope="module")
def win(synthetic):
    return xemu.windows(synthetic, INPUTS, TARGETS, length=12, stride=1)


def test_windows_of_the_synthetic_climate(win, synthetic):
    n_time = synthetic.sizes["time"]
    assert len(win) == 9 * (n_time - 12 + 1)  # 3 scenarios x 3 members
    p = win.prepared
    assert p.inputs.shape == (3, n_time, len(INPUTS) + 2, 8, 12)  # + two seasonal channels
    assert p.targets.shape == (9, n_time, 2, 8, 12)
    assert p.channels == [*INPUTS, "season_sin", "season_cos"]
    # rsdt has no scenario dim, tas has scenario and member: member m of scenario s is forced by s
    assert p.input_sample_dims == ("scenario",)
    assert p.target_sample_dims == ("scenario", "member")
    assert p.target_to_input.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # no window runs past the end of its sample into the next one in the stacked rows
    rows = win.index.rows(n_time)
    assert np.all(rows // n_time == (rows + 11) // n_time)
    assert np.all(rows // n_time == win.index.sample)


def test_batch_equals_plain_slicing(win):
    p = win.prepared
    which = np.array([0, 5, 77, len(win) - 1, 30])
    x, y = win.tensors(which)
    assert tuple(x.shape) == (5, 12, p.inputs.shape[2], 8, 12)
    assert tuple(y.shape) == (5, 12, 2, 8, 12)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    for b, k in enumerate(which):
        s, t = win.index.sample[k], win.index.start[k]
        np.testing.assert_array_equal(x[b].numpy(), p.inputs[p.target_to_input[s], t : t + 12])
        np.testing.assert_array_equal(y[b].numpy(), p.targets[s, t : t + 12])


def test_windows_carry_the_right_labelled_data(win, synthetic):
    """Independently of the array layout: each window holds its own sample's Dataset values."""
    labels = win.labels()
    which = [1, 40, 100, 200, len(win) - 1]
    x, y = win.tensors(which)
    for b, k in enumerate(which):
        lab = labels[k]
        t0 = int(np.flatnonzero(synthetic["time"].values == lab["time"])[0])
        months = slice(t0, t0 + 12)
        truth = synthetic.sel(scenario=lab["scenario"], member=lab["member"]).isel(time=months)
        np.testing.assert_array_equal(y[b, :, 0].numpy(), truth["tas"].values)
        np.testing.assert_array_equal(y[b, :, 1].numpy(), truth["pr"].values)
        co2 = synthetic["CO2"].sel(scenario=lab["scenario"]).isel(time=months).values.astype(np.float32)
        np.testing.assert_array_equal(x[b, :, 0].numpy(), np.broadcast_to(co2[:, None, None], (12, 8, 12)))
        np.testing.assert_array_equal(
            x[b, :, 1].numpy(), synthetic["SO2"].sel(scenario=lab["scenario"]).isel(time=months).values
        )
        np.testing.assert_array_equal(x[b, :, 2].numpy(), synthetic["rsdt"].isel(time=months).values)


def test_inputs_without_sample_dims_map_to_one_input_sample(synthetic):
    w = xemu.windows(synthetic, ["rsdt"], ["tas"], length=12, stride=12)
    assert w.prepared.inputs.shape[0] == 1
    assert w.prepared.target_to_input.tolist() == [0] * 9
    x, _ = w.tensors(np.arange(len(w)))
    same_start = np.flatnonzero(w.index.start == w.index.start[0])
    assert all(torch.equal(x[same_start[0]], x[i]) for i in same_start)


def test_windows_skip_a_missing_month(synthetic):
    ds = synthetic.isel(time=[t for t in range(36) if t != 17])  # 2016-06 is missing
    w = xemu.windows(ds, ["CO2"], ["tas"], length=12)
    assert len(w) == 9 * (6 + 7)  # runs of 17 and 18 months
    months = month_index(ds["time"])
    for t in w.index.start:
        assert np.all(np.diff(months[t : t + 12]) == 1)


def test_windows_stride_and_short_series(synthetic):
    w = xemu.windows(synthetic, ["CO2"], ["tas"], length=12, stride=6)
    assert sorted(set(w.index.start.tolist())) == [0, 6, 12, 18, 24]
    with pytest.raises(DataError, match="a series shorter than one window.*is 10, a window needs 12"):
        xemu.windows(synthetic.isel(time=slice(0, 10)), ["CO2"], ["tas"])


def test_windows_without_targets(synthetic):
    w = xemu.windows(synthetic, ["CO2", "rsdt"], length=12, stride=12)
    assert len(w) == 3 * 3
    x, y = w.tensors([0])
    assert y is None and tuple(x.shape) == (1, 12, 4, 8, 12)
    assert w.labels()[0]["scenario"] == "low"


# --- the loader -----------------------------------------------------------------------------


def test_loader_batches_cover_every_window_once_per_epoch(win):
    loader = win.loader(batch_size=32, shuffle=True, seed=3)
    assert len(loader) == -(-len(win) // 32)
    first = loader.order(0)
    assert sorted(first.tolist()) == list(range(len(win)))
    assert not np.array_equal(first, loader.order(1))  # a new permutation each epoch
    np.testing.assert_array_equal(first, win.loader(shuffle=True, seed=3).order(0))  # reproducible
    assert not np.array_equal(first, win.loader(shuffle=True, seed=4).order(0))
    sizes = []
    for b, (x, y) in enumerate(loader):
        chunk = first[b * 32 : (b + 1) * 32]
        ex, ey = win.tensors(chunk)
        assert torch.equal(x, ex) and torch.equal(y, ey)
        sizes.append(x.shape[0])
    assert sum(sizes) == len(win) and sizes[-1] == len(win) - 32 * (len(sizes) - 1)
    assert np.array_equal(win.loader(shuffle=False).order(0), np.arange(len(win)))


def test_loader_extra_tensor_follows_the_input_rows():
    idx = WindowIndex(length=2, sample=np.array([1, 0]), start=np.array([0, 1]))
    inputs = torch.arange(2 * 3, dtype=torch.float32).reshape(6, 1, 1, 1)  # 2 input samples x 3 months
    targets = 100 + torch.arange(4 * 3, dtype=torch.float32).reshape(12, 1, 1, 1)  # 4 target samples
    loader = WindowLoader(idx, inputs, 3, targets, np.array([0, 1, 1, 0]), extra=-inputs)
    x, y, extra = loader.batch([0, 1])
    # window 0: target sample 1 (input sample 1), months 0..1; window 1: target sample 0 (input 0), months 1..2
    assert x.flatten().tolist() == [3, 4, 1, 2]
    assert y.flatten().tolist() == [103, 104, 101, 102]
    assert extra.flatten().tolist() == [-3, -4, -1, -2]
