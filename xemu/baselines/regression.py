"""Ridge regression of many maps on a few standardised inputs, with a data-chosen strength.

Linear pattern scaling regresses every grid cell (and calendar month) on the same few
global-mean forcings. On the forcings of the usual scenarios those inputs are nearly
collinear (the global means of SO2 and BC correlate at 0.98 on the CSE 151B store), so
ordinary least squares fits internal variability along the barely-sampled combinations
and answers a what-if scenario that moves along one of them with responses of several
kelvin. A ridge penalty shrinks exactly those directions and leaves the well-sampled ones
almost untouched.

The problem solved for each calendar month, with ``z`` the inputs standardised by their
training mean and standard deviation and an unpenalised intercept:

``minimise  sum_rows |y - c - z b|^2  +  alpha * n * |b|^2``

(``n`` rows; ``alpha`` is dimensionless: a direction of the centred design whose variance
per row is ``s2`` is shrunk by the factor ``s2 / (s2 + alpha)``). With one singular value
decomposition of the design per month, the solutions for every ``alpha`` and every cell
cost one small matrix product each (:func:`ridge_path`).

The strength is chosen by cross-validation on the training rows only
(:func:`choose_alpha`): folds leave out one *forcing sample* at a time (a scenario: all
its members and months), because what an emulator is used for is a forcing it has not
seen. That needs at least three forcing samples: a fit on a single scenario cannot tell
its forcings apart (they all trend together), so with two the criterion asks for the
strongest penalty whatever the data (measured on the CSE 151B store: ssp126 and ssp585
alone choose the largest strength tried). With fewer than three the folds are five
contiguous blocks of time.
The ``alpha`` with the smallest area-weighted cross-validated squared error is chosen,
per target variable, from :data:`ALPHAS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ALPHAS", "COND_WARN", "MIN_GROUPS", "ridge_fit", "ridge_path", "choose_alpha", "cv_folds", "condition",
           "RidgeSums", "ridge_fit_sums", "cv_error_sums", "choose_alpha_sums", "residual_sums"]

#: Ridge strengths tried by cross-validation (0 is ordinary least squares).
ALPHAS: tuple[float, ...] = (0.0, *np.round(np.logspace(-4, 1, 16), 8).tolist())

#: Condition number of the standardised training design above which ``fit`` warns.
COND_WARN = 100.0


def _svd(z: np.ndarray):
    zm = z.mean(0)
    u, s, vt = np.linalg.svd(z - zm, full_matrices=False)
    return zm, u, s, vt


def _shrink(s: np.ndarray, alpha: float, n: int) -> np.ndarray:
    """``s / (s^2 + alpha n)``; directions with no variance get 0 (least squares' minimum norm)."""
    tol = s.max(initial=0.0) * max(n, s.size) * np.finfo(float).eps
    out = np.zeros_like(s)
    ok = s > tol
    out[ok] = s[ok] / (s[ok] ** 2 + alpha * n)
    return out


def ridge_fit(z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(K, P)`` and intercepts ``(P,)`` of the ridge fit of ``y (n, P)`` on ``z (n, K)``.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.array([[0.0], [1.0], [2.0]]); y = 3 * z + 1
    >>> b, c = ridge_fit(z, y, 0.0)
    >>> round(float(b[0, 0]), 6), round(float(c[0]), 6)
    (3.0, 1.0)
    """
    zm, u, s, vt = _svd(z)
    ym = y.mean(0)
    b = vt.T @ (_shrink(s, alpha, len(z))[:, None] * (u.T @ (y - ym)))
    return b, ym - zm @ b


def ridge_path(z_train, y_train, z_test, alphas) -> list[np.ndarray]:
    """Predictions ``(n_test, P)`` of ``z_test`` for each ``alpha``, from one SVD of ``z_train``."""
    zm, u, s, vt = _svd(z_train)
    ym = y_train.mean(0)
    uty = u.T @ (y_train - ym)  # (K, P)
    zt = (z_test - zm) @ vt.T  # test rows in the design's principal axes
    return [ym + zt @ (_shrink(s, a, len(z_train))[:, None] * uty) for a in alphas]


#: Forcing samples needed to cross-validate by leaving one out (else blocks of time).
MIN_GROUPS = 3


def cv_folds(groups: np.ndarray, time_index: np.ndarray, n_blocks: int = 5) -> tuple[np.ndarray, str]:
    """Fold id of each row: its forcing sample when there are :data:`MIN_GROUPS` or more, else a block of time.

    Examples
    --------
    >>> import numpy as np
    >>> folds, how = cv_folds(np.array([0, 0, 1, 1, 2, 2]), np.arange(6))
    >>> folds.tolist(), how
    ([0, 0, 1, 1, 2, 2], 'leave one forcing sample out (3 folds)')
    >>> cv_folds(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2]), n_blocks=3)[1]
    '3 contiguous blocks of time'
    """
    unique = np.unique(groups)
    if unique.size >= MIN_GROUPS:
        return np.searchsorted(unique, groups), f"leave one forcing sample out ({unique.size} folds)"
    edges = np.quantile(time_index, np.linspace(0, 1, n_blocks + 1)[1:-1])
    return np.searchsorted(edges, time_index, side="right"), f"{n_blocks} contiguous blocks of time"


def choose_alpha(z, y, months, folds, weights, alphas=ALPHAS) -> np.ndarray:
    """Cross-validated error ``(len(alphas), V)`` of ridge fits per calendar month.

    Parameters
    ----------
    z : numpy.ndarray
        ``(n, K)`` standardised inputs.
    y : numpy.ndarray
        ``(n, V, P)`` targets (``V`` variables, ``P`` cells).
    months : numpy.ndarray
        ``(n,)`` calendar month of each row (one fit per month).
    folds : numpy.ndarray
        ``(n,)`` fold of each row (:func:`cv_folds`).
    weights : numpy.ndarray
        ``(P,)`` area weights of the cells.

    Returns
    -------
    numpy.ndarray
        Area-weighted mean squared error per ``alpha`` and variable, over all held-out rows.
    """
    n, v, p = y.shape
    err = np.zeros((len(alphas), v))
    count = 0
    for m in np.unique(months):
        in_month = months == m
        for f in np.unique(folds[in_month]):
            train, test = in_month & (folds != f), in_month & (folds == f)
            if train.sum() < 2 or not test.any():
                continue
            yt = y[test].reshape(test.sum(), -1)
            for a, pred in enumerate(ridge_path(z[train], y[train].reshape(train.sum(), -1), z[test], alphas)):
                err[a] += (((pred - yt) ** 2).reshape(-1, v, p) * weights).sum((0, 2))
            count += test.sum() * p
    return err / max(count, 1)


def condition(z: np.ndarray) -> tuple[float, np.ndarray]:
    """Condition number of the centred design ``z`` and its least-determined direction (unit vector)."""
    _, _, s, vt = _svd(z)
    cond = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
    return cond, vt[-1]


# -- the same fits from sums over the rows, for targets read block by block ------------------
#
# The design ``z`` (a few global means per row) is small and stays whole; the targets (a map
# per row) are only summed: per group of rows (a calendar month, or a month and a fold) the
# sums of ``y``, of ``z y`` and (for the held-out rows of cross-validation) of the weighted
# ``y^2``. The fits use the design's own singular value decomposition, as :func:`ridge_fit`
# does, so the coefficients equal the in-memory ones to float rounding.


def _gain(s: np.ndarray, alpha: float, n: int) -> np.ndarray:
    """``_shrink(s) / s``: ``1 / (s^2 + alpha n)`` on the directions :func:`_shrink` keeps, else 0."""
    tol = s.max(initial=0.0) * max(n, s.size) * np.finfo(float).eps
    out = np.zeros_like(s)
    ok = s > tol
    out[ok] = 1.0 / (s[ok] ** 2 + alpha * n)
    return out


class RidgeSums:
    """Sums of targets over design rows per group, accumulated block by block.

    Per group key (an integer, e.g. the calendar month): ``sy`` ``(V, P)`` the sum of the
    targets, ``szy`` ``(K, V, P)`` the sum of ``z`` times the targets, ``syy`` ``(V,)`` the
    sum over rows and cells of ``weights * y^2`` and ``syy1`` ``(V,)`` that of ``y^2``
    (unweighted). The targets are summed minus ``shift``
    ``(V, P)`` (by default the first row added): a constant per cell changes no slope and
    no error, and keeps the sums of squares small beside what is fitted.

    Parameters
    ----------
    z : numpy.ndarray
        ``(n, K)`` the whole design; :meth:`add` names rows of it.
    weights : numpy.ndarray
        ``(P,)`` weights of the cells (for ``syy``).
    shift : numpy.ndarray, optional
        ``(V, P)`` subtracted from every target row.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.arange(4.0)[:, None]; y = (2 * z + 1)[:, :, None]       # (n, V=1, P=1)
    >>> sums = RidgeSums(z, np.ones(1))
    >>> sums.add(np.array([0, 1]), y[:2], np.zeros(2, int)); sums.add(np.array([2, 3]), y[2:], np.zeros(2, int))
    >>> b, c = ridge_fit_sums(z, sums.sy(0)[0] , sums.szy(0)[:, 0], 0.0)
    >>> round(float(b[0, 0]), 6), round(float(c[0] + sums.shift[0, 0]), 6)
    (2.0, 1.0)
    """

    def __init__(self, z: np.ndarray, weights: np.ndarray, shift: np.ndarray | None = None):
        self.z = np.asarray(z, np.float64)
        self.weights = np.asarray(weights, np.float64)
        self.shift = None if shift is None else np.asarray(shift, np.float64)
        self.groups: dict[int, list] = {}

    def add(self, rows: np.ndarray, y: np.ndarray, keys: np.ndarray) -> None:
        """Add the target rows ``y`` ``(n, V, P)`` of design rows ``rows`` ``(n,)`` to the groups ``keys`` ``(n,)``."""
        rows, keys = np.asarray(rows), np.asarray(keys)
        if not rows.size:
            return
        y = np.asarray(y, np.float64)
        if self.shift is None:
            self.shift = y[0].copy()
        y = y - self.shift
        for key in np.unique(keys):
            sel = keys == key
            yk, zk = y[sel], self.z[rows[sel]]
            group = self.groups.get(int(key))
            if group is None:
                n_v, n_p = y.shape[1:]
                group = self.groups[int(key)] = [np.zeros((n_v, n_p)), np.zeros((zk.shape[1], n_v, n_p)),
                                                 np.zeros(n_v), np.zeros(n_v)]
            group[0] += yk.sum(0)
            group[1] += np.tensordot(zk.T, yk, axes=1)
            squares = (yk**2).sum(0)
            group[2] += (squares * self.weights).sum(-1)
            group[3] += squares.sum(-1)

    def sy(self, key: int) -> np.ndarray:
        return self.groups[key][0]

    def szy(self, key: int) -> np.ndarray:
        return self.groups[key][1]

    def syy(self, key: int) -> np.ndarray:
        return self.groups[key][2]

    def syy1(self, key: int) -> np.ndarray:
        return self.groups[key][3]

    def merged(self, key_of: Callable[[int], int]) -> RidgeSums:
        """The sums of the groups that ``key_of`` maps to the same key (e.g. folds of one month), as one group."""
        out = RidgeSums(self.z, self.weights, shift=self.shift)
        for key, group in self.groups.items():
            new = out.groups.get(key_of(key))
            if new is None:
                out.groups[key_of(key)] = [g.copy() for g in group]
            else:
                for a, b in zip(new, group, strict=True):
                    a += b
        return out


def ridge_fit_sums(z: np.ndarray, sy: np.ndarray, szy: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ridge_fit` of targets known by their sums over the rows of ``z``.

    Parameters
    ----------
    z : numpy.ndarray
        ``(n, K)`` the design rows.
    sy, szy : numpy.ndarray
        ``(P,)`` the sum of the targets over the rows, ``(K, P)`` the sum of ``z`` times them.
    alpha : float

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Coefficients ``(K, P)`` and intercepts ``(P,)``, as :func:`ridge_fit` gives them
        (to float rounding).
    """
    n = len(z)
    zm, _, s, vt = _svd(z)
    czy = szy - np.outer(zm, sy)  # sum over rows of (z - zm) y
    b = vt.T @ (_gain(s, alpha, n)[:, None] * (vt @ czy))
    return b, sy / n - zm @ b


def cv_error_sums(z_train, sy_train, szy_train, z_test, sy_test, szy_test, syy_test, weights,
                  alphas=ALPHAS) -> np.ndarray:
    """Weighted squared error ``(len(alphas),)`` on test rows of ridge fits on train rows, from sums.

    ``sy_*`` ``(P,)`` and ``szy_*`` ``(K, P)`` are sums over the train or test rows (see
    :func:`ridge_fit_sums`); ``syy_test`` is the sum over test rows and cells of
    ``weights * y^2``. The error is that of :func:`ridge_path`'s predictions, summed over
    the test rows and the cells with ``weights`` (as :func:`choose_alpha` sums it).
    """
    n = len(z_train)
    zm, _, s, vt = _svd(z_train)
    proj = vt @ (szy_train - np.outer(zm, sy_train))
    ym = sy_train / n
    gram, zsum = z_test.T @ z_test, z_test.sum(0)
    out = np.empty(len(alphas))
    for a, alpha in enumerate(alphas):
        b = vt.T @ (_gain(s, alpha, n)[:, None] * proj)  # (K, P)
        c = ym - zm @ b  # (P,)
        out[a] = syy_test + (_sse(len(z_test), zsum, gram, sy_test, szy_test, b, c) * weights).sum()
    return out


def _sse(n, zsum, gram, sy, szy, b, c) -> np.ndarray:
    """Per cell, ``sum_rows (y - c - z b)^2 - sum_rows y^2`` from the sums of ``y`` and ``z y`` over the rows."""
    return -2 * c * sy - 2 * (b * szy).sum(0) + n * c**2 + 2 * c * (zsum @ b) + (b * (gram @ b)).sum(0)


def residual_sums(z, sy, szy, syy1, b, c) -> tuple[float, float]:
    """Sum and sum of squares, over the rows of ``z`` and the cells, of ``y - c - z b``.

    ``sy`` ``(P,)``, ``szy`` ``(K, P)`` and ``syy1`` (a number) are the sums of ``y``, ``z y``
    and ``y^2`` over the rows (as :class:`RidgeSums` keeps them); ``b`` ``(K, P)`` and ``c``
    ``(P,)`` a linear prediction of ``y`` (e.g. a fitted baseline), in the same shifted units.
    """
    z = np.asarray(z, np.float64)
    zsum = z.sum(0)
    total = float((sy - len(z) * c - zsum @ b).sum())
    return total, float(syy1 + _sse(len(z), zsum, z.T @ z, sy, szy, b, c).sum())


def choose_alpha_sums(z, months, folds, weights, totals: RidgeSums, blocks, alphas=ALPHAS) -> np.ndarray:
    """:func:`choose_alpha` with the targets read block by block, holding one or two folds' sums at a time.

    Parameters
    ----------
    z, months, folds, weights
        As for :func:`choose_alpha` (the whole design, the calendar month and fold of each
        row, the cells' weights).
    totals : RidgeSums
        The sums of all rows per calendar month (keys ``months``), with the shift to use.
    blocks : iterable of (rows, y), or RidgeSums
        Every design row once: ``rows`` ``(n,)`` and its targets ``y`` ``(n, V, P)``. A fold
        is scored (and its sums dropped) as soon as its last row has come, so blocks in the
        order of their folds keep one or two folds in memory. Or the sums of every fold
        already made, with keys ``month * n_folds + fold`` (and the shift of ``totals``);
        they are used up (each fold's groups are removed once scored).

    Returns
    -------
    numpy.ndarray
        ``(len(alphas), V)``, as :func:`choose_alpha` returns it (to float rounding).
    """
    folds = np.asarray(folds)
    n_folds = int(folds.max()) + 1
    left = np.bincount(folds, minlength=n_folds)
    held = isinstance(blocks, RidgeSums)
    part = blocks if held else RidgeSums(z, weights, shift=totals.shift)
    err, count = None, 0

    def score(f: int) -> None:
        nonlocal err, count
        for m in np.unique(months[folds == f]):
            key = int(m) * n_folds + f
            in_month = months == m
            train, test = in_month & (folds != f), in_month & (folds == f)
            if train.sum() < 2 or not test.any() or key not in part.groups:
                part.groups.pop(key, None)
                continue
            sy, szy, syy, _ = part.groups.pop(key)
            sy_all, szy_all = totals.sy(int(m)), totals.szy(int(m))
            n_p = sy.shape[1]
            if err is None:
                err = np.zeros((len(alphas), sy.shape[0]))
            for v in range(sy.shape[0]):
                err[:, v] += cv_error_sums(z[train], sy_all[v] - sy[v], szy_all[:, v] - szy[:, v], z[test], sy[v],
                                           szy[:, v], syy[v], weights, alphas)
            count += test.sum() * n_p

    if held:
        for f in np.flatnonzero(left):
            score(int(f))
        left[:] = 0
        blocks = ()
    for rows, y in blocks:
        rows = np.asarray(rows)
        part.add(rows, y, months[rows] * n_folds + folds[rows])
        done = np.bincount(folds[rows], minlength=n_folds)
        for f in np.flatnonzero(done):
            left[f] -= done[f]
            if left[f] == 0:
                score(int(f))
    if left.any():
        raise ValueError(f"blocks: {int(left.sum())} design rows never came (or came twice)")
    if err is None:
        err = np.zeros((len(alphas), totals.sy(int(months[0])).shape[0]))
    return err / max(count, 1)
