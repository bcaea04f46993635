"""A choropleth map as one self-contained HTML file: inline SVG, no script, no tiles, no network.

Zones are drawn in an equirectangular projection scaled by the cosine of the mid latitude (true
shapes at a city's scale), coloured by value in quantile classes of a sequential palette; zones
without a value are grey. Hovering a zone shows its name and value (SVG ``<title>``).
"""

from __future__ import annotations

import html

import numpy as np
import shapely

PALETTE = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")
NO_VALUE = "#d9d9d9"
WIDTH = 900


def choropleth_html(geometries, values, labels, title: str, value_name: str,
                    subtitle: str = "", simplify_degrees: float = 0.0001) -> str:
    """The page. ``values`` may hold NaN (no value); ``labels`` name the zones."""
    geometries = shapely.simplify(np.asarray(geometries, dtype=object), simplify_degrees, preserve_topology=True)
    values = np.asarray(values, dtype=np.float64)
    x0, y0, x1, y1 = shapely.total_bounds(geometries)
    x_scale = np.cos(np.radians((y0 + y1) / 2))
    scale = WIDTH / ((x1 - x0) * x_scale)
    height = int(np.ceil((y1 - y0) * scale))
    breaks = class_breaks(values[np.isfinite(values)], len(PALETTE))
    paths = []
    for geometry, value, label in zip(geometries, values, labels):
        colour = PALETTE[int(np.searchsorted(breaks, value, side="right"))] if np.isfinite(value) else NO_VALUE
        shown = f"{value:,.0f}" if np.isfinite(value) else "no value"
        d = _path(geometry, lambda x, y: ((x - x0) * x_scale * scale, (y1 - y) * scale))
        paths.append(f'<path d="{d}" fill="{colour}"><title>{html.escape(str(label))}: {shown} '
                     f'{html.escape(value_name)}</title></path>')
    return _page(title, subtitle, value_name, "\n".join(paths), breaks, height,
                 float(np.nanmin(values)) if np.isfinite(values).any() else 0.0)


def class_breaks(values: np.ndarray, classes: int) -> np.ndarray:
    """Upper bounds of the first ``classes - 1`` quantile classes (ascending, distinct)."""
    if not len(values):
        return np.empty(0)
    return np.unique(np.quantile(values, np.linspace(0, 1, classes + 1)[1:-1]))


def _path(geometry, project) -> str:
    parts = []
    for polygon in shapely.get_parts(geometry):
        for ring in [polygon.exterior, *polygon.interiors]:
            xs, ys = project(*np.asarray(ring.coords).T)
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
            parts.append(f"M{points}Z")
    return "".join(parts)


def _page(title, subtitle, value_name, paths, breaks, height, lowest) -> str:
    bounds = [lowest, *breaks]
    legend = "".join(
        f'<div><span style="background:{PALETTE[i]}"></span>{"≥ " + format(bounds[i], ",.0f") if i < len(bounds) else ""}</div>'
        for i in range(min(len(bounds), len(PALETTE)))
    ) + f'<div><span style="background:{NO_VALUE}"></span>no value</div>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; background: #fff; color: #222; }}
svg path {{ stroke: #555; stroke-width: 0.4; fill-rule: evenodd; }}
svg path:hover {{ stroke: #000; stroke-width: 1.5; }}
.legend {{ position: absolute; top: 90px; left: 24px; background: rgba(255,255,255,.9); padding: 8px; font-size: 13px; }}
.legend span {{ display: inline-block; width: 18px; height: 12px; margin-right: 6px; border: 1px solid #777; }}
</style></head>
<body><h1 style="font-size:20px;margin:0">{html.escape(title)}</h1>
<p style="margin:4px 0 8px">{html.escape(subtitle)}</p>
<div class="legend"><b>{html.escape(value_name)}</b>{legend}</div>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">
{paths}
</svg></body></html>
"""
