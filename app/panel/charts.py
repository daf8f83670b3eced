"""Dashboard charts drawn on the server as SVG with pygal (no script, nothing from a CDN)."""

from __future__ import annotations

import functools
import re

from markupsafe import Markup

# pygal is imported where a chart is drawn: only the dashboard draws any (under gunicorn the
# master imports it once for every worker, gunicorn.conf.py).


@functools.cache
def _style():
    from pygal.style import Style

    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1a1a1a",
        foreground_strong="#1a1a1a",
        foreground_subtle="#8d817a",
        colors=("#b3261e", "#1e6b34", "#1a56db", "#8a5a00", "#6b3fa0", "#00796b", "#c2185b"),
        font_family='"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif',
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=14,
        title_font_size=16,
        value_font_size=12,
    )


def _config(title: str, **options) -> dict:
    return {
        "title": title,
        "style": _style(),
        "js": [],  # pygal's tooltips load a script from the internet: not on our pages
        "disable_xml_declaration": True,
        "width": 760,
        "height": 340,
        "legend_at_bottom": True,
        "print_values": False,
        "show_y_guides": True,
        **options,
    }


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _svg(chart) -> Markup:
    # pygal escapes the labels and values we give it; the markup is its own. Its inline
    # config script only feeds the tooltip script we do not load, so it is dropped.
    return Markup(_SCRIPT.sub("", chart.render(is_unicode=True)))  # noqa: S704


def bars(title: str, labels: list[str], series: dict[str, list], **options) -> Markup:
    import pygal

    chart = pygal.Bar(**_config(title, x_label_rotation=0, **options))
    chart.x_labels = labels
    for name, values in series.items():
        chart.add(name, values)
    return _svg(chart)


def line(title: str, labels: list[str], series: dict[str, list]) -> Markup:
    import pygal

    chart = pygal.Line(**_config(title, dots_size=4, fill=False))
    chart.x_labels = labels
    for name, values in series.items():
        chart.add(name, values)
    return _svg(chart)


def horizontal(title: str, rows: list[tuple[str, float]]) -> Markup:
    import pygal

    chart = pygal.HorizontalBar(**_config(title, show_legend=False, print_values=True))
    chart.x_labels = [name for name, _value in rows][::-1]
    chart.add(title, [value for _name, value in rows][::-1])
    return _svg(chart)


def pie(title: str, parts: dict[str, float]) -> Markup:
    import pygal

    chart = pygal.Pie(**_config(title, inner_radius=0.45, print_values=True))
    for name, value in parts.items():
        chart.add(name, value)
    return _svg(chart)
