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

import numpy as np

__all__ = ["ALPHAS", "COND_WARN", "MIN_GROUPS", "ridge_fit", "ridge_path", "choose_alpha", "cv_folds", "condition"]

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
