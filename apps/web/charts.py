"""Server-side SVG charts: no JavaScript, no CDN, and nothing the strict CSP refuses.

Each function returns safe HTML (a `<figure>` with an inline `<svg>`, an HTML legend and a text
fallback); every text placed in it is escaped. No `style` attribute or element (style-src is 'self'):
geometry is in presentation attributes, colours in static/css/reputation.css, where a series' CSS class
sets `--series` (`.series-market { --series: #2f5bd3; }`). Built-in classes: `series-market`,
`series-consensus`, `series-source`, `series-yes`, `series-no`, `series-1` … `series-4`.

Probabilities are fractions (0.62, a float or a Decimal), drawn as percentages.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

Number = float | Decimal | int

# Line chart geometry (viewBox units). The plot area is x 60..460 and y 20..220: 50% is at y = 120. The
# viewBox is narrow so that, scaled to a 390px phone, its 14-unit text stays about 10px high.
LINE_WIDTH, LINE_HEIGHT = 480, 280
LINE_LEFT, LINE_RIGHT, LINE_TOP, LINE_BOTTOM = 60, 460, 20, 220

# Calibration chart geometry: a square plot, x 60..380 and y 20..340 (50% is at (220, 180)).
CAL_SIZE_W, CAL_SIZE_H = 400, 400
CAL_LEFT, CAL_RIGHT, CAL_TOP, CAL_BOTTOM = 60, 380, 20, 340

Y_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_X_TICKS = 5  # a "1 Mar 12:00" label is about 80 units wide
MARKER_LIMIT = 40  # a non-step series with more points than this is drawn as a bare line
POINT_RADIUS_MIN, POINT_RADIUS_MAX = 3.0, 10.0
FALLBACK_STROKE = "#5d6778"  # presentation-attribute colour, used only if the stylesheet is missing

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Candidate tick intervals, smallest first: the first that yields at most MAX_X_TICKS ticks is used.
# Months and years are (count, "month"/"year") pairs, stepped on the calendar.
# No interval is more than 2.5 times the one before it, so a range with one tick too many for an
# interval still gets at least two of the next, and mostly three or more (when 2-day ticks were
# followed by weekly ones, a 12-day history got a single label).
TICK_INTERVALS: tuple[timedelta | tuple[int, str], ...] = (
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    3 * DAY,
    4 * DAY,
    7 * DAY,
    14 * DAY,
    (1, "month"),
    (2, "month"),
    (3, "month"),
    (6, "month"),
    (1, "year"),
    (2, "year"),
    (5, "year"),
    (10, "year"),
    (25, "year"),
    (50, "year"),
    (100, "year"),
)


@dataclass(frozen=True)
class Series:
    """One line of a line chart: `points` are (datetime, probability) in time order; `step=True` draws a
    price that holds its value until the next point (and until the chart's `end`)."""

    name: str
    css_class: str
    points: Sequence[tuple[datetime, Number]] = field(default_factory=tuple)
    step: bool = False


@dataclass(frozen=True)
class CalibrationSeries:
    """One forecaster on a calibration chart: `buckets` as `apps.reputation.selectors.calibration` returns
    them (dicts with low, high, count, mean_forecast, observed; empty buckets are skipped)."""

    name: str
    css_class: str
    buckets: Sequence[Mapping] = field(default_factory=tuple)


# --- Formatting helpers -----------------------------------------------------------------------------


def _n(value: float) -> str:
    """A coordinate with at most one decimal: 130.0 -> "130", 97.25 -> "97.2"."""
    text = f"{round(value, 1):.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pct(value: Number) -> str:
    """A probability as a whole percentage, or one decimal below 1% and above 99%: 0.625 -> "62%"."""
    p = float(value) * 100
    if 0 < p < 1 or 99 < p < 100:
        return f"{math.floor(p * 10 + 0.5) / 10:.1f}%"
    return f"{math.floor(p + 0.5):d}%"  # half up: 62.5% reads 63%, not the banker's 62%


def _chart_id(chart_id: str | None, title: str, kind: str) -> str:
    return slugify(chart_id or f"chart-{kind}-{title}") or f"chart-{kind}"


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _local(moment: datetime) -> datetime:
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def _when(moment: datetime) -> str:
    return date_format(_local(moment), "j M Y H:i")


def _figure(kind: str, chart_id: str, svg: str, legend: str, extra: str = "") -> SafeString:
    # Every text in the parts was escaped where it was placed; chart_id is a slug.
    return mark_safe(f'<figure class="chart chart-{kind}" id="{chart_id}">{svg}{legend}{extra}</figure>')  # noqa: S308


def _legend(entries: Sequence[tuple[str, str]], kind: str) -> str:
    if not entries:
        return ""
    items = "".join(
        f'<li><span class="chart-swatch chart-swatch-{kind} {escape(css)}" aria-hidden="true"></span>'
        f"{escape(name)}</li>"
        for name, css in entries
    )
    return f'<ul class="chart-legend" aria-hidden="true">{items}</ul>'


def _svg_open(chart_id: str, width: int, height: int, title: str, desc: str) -> str:
    return (
        f'<svg class="chart-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-size="14" font-family="system-ui, sans-serif">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )


# --- Scales -----------------------------------------------------------------------------------------


def y_position(probability: Number, *, top: float = LINE_TOP, bottom: float = LINE_BOTTOM) -> float:
    """The vertical coordinate of a probability (clamped to 0..1): `y_position(0.5)` -> 120.0."""
    return bottom - _clamp(float(probability)) * (bottom - top)


def time_domain(
    moments: Sequence[datetime], *, start: datetime | None = None, end: datetime | None = None
) -> tuple[datetime, datetime] | None:
    """The x-axis range covering `moments`, `start` and `end`; a zero span is widened to one hour either
    side so a single moment sits in the middle. None when there is nothing to place."""
    candidates = [*moments, *(m for m in (start, end) if m is not None)]
    if not candidates:
        return None
    low, high = min(candidates), max(candidates)
    if low == high:
        return low - HOUR, high + HOUR
    return low, high


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def _floor(moment: datetime, interval: timedelta | tuple[int, str]) -> datetime:
    if isinstance(interval, tuple):
        count, unit = interval
        if unit == "year":
            return moment.replace(
                year=moment.year - moment.year % count, month=1, day=1, hour=0, minute=0, second=0, microsecond=0
            )
        month0 = (moment.month - 1) - (moment.month - 1) % count
        return moment.replace(month=month0 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval >= DAY:
        if interval == 7 * DAY or interval == 14 * DAY:
            return midnight - timedelta(days=midnight.weekday())  # weeks start on Monday
        return midnight
    step = interval.total_seconds()
    elapsed = (moment - midnight).total_seconds()
    return midnight + timedelta(seconds=elapsed - elapsed % step)


def _step(moment: datetime, interval: timedelta | tuple[int, str]) -> datetime:
    if isinstance(interval, tuple):
        count, unit = interval
        return _add_months(moment, count * 12 if unit == "year" else count)
    return moment + interval


def time_ticks(low: datetime, high: datetime) -> list[tuple[datetime, str]]:
    """Ticks on the first of TICK_INTERVALS that gives at most MAX_X_TICKS: 09:00 to 17:00 ->
    10:00, 12:00, 14:00, 16:00 (hourly would be 9 ticks)."""
    if high <= low:
        return []
    span = high - low
    local_low, local_high = _local(low), _local(high)
    for interval in TICK_INTERVALS:
        ticks = []
        moment = _floor(local_low, interval)
        while moment <= local_high and len(ticks) <= MAX_X_TICKS:
            if moment >= local_low:
                ticks.append(moment)
            moment = _step(moment, interval)
        if len(ticks) <= MAX_X_TICKS:
            break
    if not ticks:
        # A range shorter than the smallest interval (a market traded for a few seconds): its two ends.
        pattern = "H:i:s" if span < timedelta(minutes=1) else "H:i"
        return _distinct([(low, date_format(local_low, pattern)), (high, date_format(local_high, pattern))])
    if isinstance(interval, tuple):
        pattern = "Y" if interval[1] == "year" else "M Y"
    elif interval >= DAY:
        pattern = "j M"
    elif span > DAY:
        pattern = "j M H:i"
    else:
        pattern = "H:i"
    # Over several days, a midnight tick names the day alone.
    return _distinct(
        [
            (tick, date_format(tick, "j M" if pattern == "j M H:i" and tick.hour == tick.minute == 0 else pattern))
            for tick in ticks
        ]
    )


def _distinct(ticks: list[tuple[datetime, str]]) -> list[tuple[datetime, str]]:
    """Drops a tick whose label repeats the one before: a new claim's chart often spans under a second,
    and both its ends would read `09:00:05`."""
    kept: list[tuple[datetime, str]] = []
    for tick in ticks:
        if not kept or kept[-1][1] != tick[1]:
            kept.append(tick)
    return kept


# --- Line chart -------------------------------------------------------------------------------------


def line_chart(
    *,
    series: Sequence[Series],
    title: str = "Probability over time",
    y_label: str = "Probability",
    x_label: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    chart_id: str | None = None,
    empty_text: str = "No data yet.",
) -> SafeString:
    """Probabilities over time. The x axis covers every point and `start`/`end`; a step series holds its
    last value until `end`. The `<desc>` names each series' first, last, lowest and highest values, so
    the chart reads without the picture.

        line_chart(
            series=[Series(name="Market price", css_class="series-market",
                           points=[(opened_at, 0.5), (traded_at, 0.62)], step=True)],
            title="Price history", y_label="Probability of YES", end=timezone.now(),
        )
    """
    chart_id = _chart_id(chart_id, title, "line")
    # Points are drawn in time order whatever order they came in.
    series = [replace(s, points=sorted(s.points, key=lambda point: point[0])) for s in series]
    moments = [moment for s in series for moment, _ in s.points]
    domain = time_domain(moments, start=start, end=end)
    plotted = [s for s in series if s.points]

    def x_position(moment: datetime) -> float:
        low, high = domain
        fraction = (moment - low) / (high - low)
        return LINE_LEFT + fraction * (LINE_RIGHT - LINE_LEFT)

    parts = []
    # Horizontal grid and y ticks.
    for tick in Y_TICKS:
        y = _n(y_position(tick))
        parts.append(
            f'<line class="chart-grid{" chart-grid-mid" if tick == 0.5 else ""}" x1="{LINE_LEFT}" x2="{LINE_RIGHT}" '
            f'y1="{y}" y2="{y}" stroke="#dde1e8" stroke-width="1"/>'
            f'<text class="chart-tick" x="{LINE_LEFT - 8}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'fill="#5d6778">{_pct(tick)}</text>'
        )
    # Axes.
    parts.append(
        f'<line class="chart-axis" x1="{LINE_LEFT}" x2="{LINE_RIGHT}" y1="{LINE_BOTTOM}" y2="{LINE_BOTTOM}" '
        f'stroke="#5d6778" stroke-width="1"/>'
        f'<line class="chart-axis" x1="{LINE_LEFT}" x2="{LINE_LEFT}" y1="{LINE_TOP}" y2="{LINE_BOTTOM}" '
        f'stroke="#5d6778" stroke-width="1"/>'
    )
    if domain is not None:
        for moment, label in time_ticks(*domain):
            x = _n(x_position(moment))
            parts.append(
                f'<line class="chart-axis" x1="{x}" x2="{x}" y1="{LINE_BOTTOM}" y2="{LINE_BOTTOM + 5}" '
                f'stroke="#5d6778" stroke-width="1"/>'
                f'<text class="chart-tick" x="{x}" y="{LINE_BOTTOM + 20}" text-anchor="middle" fill="#5d6778">'
                f"{escape(label)}</text>"
            )
    middle_y = (LINE_TOP + LINE_BOTTOM) / 2
    parts.append(
        f'<text class="chart-label" transform="rotate(-90)" x="{_n(-middle_y)}" y="16" text-anchor="middle" '
        f'fill="#1c2330">{escape(y_label)}</text>'
    )
    if x_label:
        parts.append(
            f'<text class="chart-label" x="{_n((LINE_LEFT + LINE_RIGHT) / 2)}" y="{LINE_HEIGHT - 8}" '
            f'text-anchor="middle" fill="#1c2330">{escape(x_label)}</text>'
        )
    if not plotted:
        parts.append(
            f'<text class="chart-empty" x="{_n((LINE_LEFT + LINE_RIGHT) / 2)}" y="{_n(middle_y - 12)}" '
            f'text-anchor="middle" fill="#5d6778">{escape(empty_text)}</text>'
        )
    for s in plotted:
        coords = [(x_position(moment), y_position(value)) for moment, value in s.points]
        path = f"M{_n(coords[0][0])} {_n(coords[0][1])}"
        for x, y in coords[1:]:
            path += f"H{_n(x)}V{_n(y)}" if s.step else f"L{_n(x)} {_n(y)}"
        if s.step and end is not None and domain is not None and end > s.points[-1][0]:
            path += f"H{_n(x_position(end))}"
        group = [
            f'<path class="chart-line" d="{path}" fill="none" stroke="{FALLBACK_STROKE}" stroke-width="2" '
            f'stroke-linejoin="round"/>'
        ]
        if len(coords) == 1 or (not s.step and len(coords) <= MARKER_LIMIT):
            group.extend(
                f'<circle class="chart-point" cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{FALLBACK_STROKE}"/>'
                for x, y in coords
            )
        parts.append(f'<g class="chart-series {escape(s.css_class)}">{"".join(group)}</g>')

    desc = _line_desc(series, empty_text)
    svg = _svg_open(chart_id, LINE_WIDTH, LINE_HEIGHT, title, desc) + "".join(parts) + "</svg>"
    return _figure("line", chart_id, svg, _legend([(s.name, s.css_class) for s in series], "line"))


def _line_desc(series: Sequence[Series], empty_text: str) -> str:
    sentences = []
    for s in series:
        if not s.points:
            sentences.append(f"{s.name}: no data.")
            continue
        first_at, first = s.points[0]
        last_at, last = s.points[-1]
        values = [float(v) for _, v in s.points]
        if len(s.points) == 1:
            sentences.append(f"{s.name}: {_pct(first)} at {_when(first_at)}.")
        else:
            sentences.append(
                f"{s.name}: {_pct(first)} at {_when(first_at)}, {_pct(last)} at {_when(last_at)}; "
                f"lowest {_pct(min(values))}, highest {_pct(max(values))}, {len(s.points)} points."
            )
    return " ".join(sentences) if sentences else empty_text


# --- Calibration chart ------------------------------------------------------------------------------


def point_radius(count: int) -> float:
    """A calibration point's radius grows with the square root of its forecasts, capped:
    `point_radius(1)` -> 4.5, `point_radius(16)` -> 9.0, `point_radius(500)` -> 10.0."""
    return min(POINT_RADIUS_MIN + 1.5 * math.sqrt(max(count, 0)), POINT_RADIUS_MAX)


def calibration_chart(
    *,
    series: Sequence[CalibrationSeries],
    title: str = "Calibration",
    x_label: str = "Forecast probability of YES",
    y_label: str = "Observed frequency of YES",
    chart_id: str | None = None,
    empty_text: str = "No resolved forecasts yet.",
) -> SafeString:
    """Predicted vs observed: a point per non-empty bucket at (mean forecast, share resolved YES), sized
    by its count; the dashed diagonal is perfect calibration. A data table in a <details> repeats every
    figure for those who cannot see the picture.

        calibration_chart(series=[
            CalibrationSeries(name="Market price", css_class="series-market",
                              buckets=record["market"]["calibration"]),
            CalibrationSeries(name="Consensus", css_class="series-consensus",
                              buckets=record["consensus"]["calibration"]),
        ], title="Calibration of the market and the consensus")
    """
    chart_id = _chart_id(chart_id, title, "calibration")
    width, height = CAL_RIGHT - CAL_LEFT, CAL_BOTTOM - CAL_TOP

    def x_position(p: Number) -> float:
        return CAL_LEFT + _clamp(float(p)) * width

    def y_pos(p: Number) -> float:
        return y_position(p, top=CAL_TOP, bottom=CAL_BOTTOM)

    filled = [(s, [b for b in s.buckets if b.get("count") and b.get("mean_forecast") is not None]) for s in series]
    parts = []
    for tick in Y_TICKS:
        x, y = _n(x_position(tick)), _n(y_pos(tick))
        parts.append(
            f'<line class="chart-grid" x1="{CAL_LEFT}" x2="{CAL_RIGHT}" y1="{y}" y2="{y}" '
            f'stroke="#dde1e8" stroke-width="1"/>'
            f'<line class="chart-grid" x1="{x}" x2="{x}" y1="{CAL_TOP}" y2="{CAL_BOTTOM}" '
            f'stroke="#dde1e8" stroke-width="1"/>'
            f'<text class="chart-tick" x="{CAL_LEFT - 8}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'fill="#5d6778">{_pct(tick)}</text>'
            f'<text class="chart-tick" x="{x}" y="{CAL_BOTTOM + 20}" text-anchor="middle" '
            f'fill="#5d6778">{_pct(tick)}</text>'
        )
    parts.append(
        f'<line class="chart-axis" x1="{CAL_LEFT}" x2="{CAL_RIGHT}" y1="{CAL_BOTTOM}" y2="{CAL_BOTTOM}" '
        f'stroke="#5d6778" stroke-width="1"/>'
        f'<line class="chart-axis" x1="{CAL_LEFT}" x2="{CAL_LEFT}" y1="{CAL_TOP}" y2="{CAL_BOTTOM}" '
        f'stroke="#5d6778" stroke-width="1"/>'
        f'<line class="chart-diagonal" x1="{CAL_LEFT}" y1="{CAL_BOTTOM}" x2="{CAL_RIGHT}" y2="{CAL_TOP}" '
        f'stroke="#5d6778" stroke-width="1.5" stroke-dasharray="6 5"/>'
        f'<text class="chart-label" x="{_n((CAL_LEFT + CAL_RIGHT) / 2)}" y="{CAL_SIZE_H - 16}" text-anchor="middle" '
        f'fill="#1c2330">{escape(x_label)}</text>'
        f'<text class="chart-label" transform="rotate(-90)" x="{_n(-(CAL_TOP + CAL_BOTTOM) / 2)}" y="16" '
        f'text-anchor="middle" fill="#1c2330">{escape(y_label)}</text>'
    )
    if not any(buckets for _, buckets in filled):
        parts.append(
            f'<text class="chart-empty" x="{_n((CAL_LEFT + CAL_RIGHT) / 2)}" y="{_n(CAL_TOP + height / 4)}" '
            f'text-anchor="middle" fill="#5d6778">{escape(empty_text)}</text>'
        )
    for s, buckets in filled:
        if not buckets:
            continue
        coords = [(x_position(b["mean_forecast"]), y_pos(b["observed"]), b) for b in buckets]
        group = []
        if len(coords) > 1:
            points = " ".join(f"{_n(x)},{_n(y)}" for x, y, _ in coords)
            group.append(
                f'<polyline class="chart-line" points="{points}" fill="none" stroke="{FALLBACK_STROKE}" '
                f'stroke-width="2" stroke-linejoin="round"/>'
            )
        for x, y, b in coords:
            group.append(
                f'<circle class="chart-point" cx="{_n(x)}" cy="{_n(y)}" r="{_n(point_radius(b["count"]))}" '
                f'fill="{FALLBACK_STROKE}"><title>{escape(_bucket_sentence(s.name, b))}</title></circle>'
            )
        parts.append(f'<g class="chart-series {escape(s.css_class)}">{"".join(group)}</g>')

    desc = _calibration_desc(filled, empty_text)
    svg = _svg_open(chart_id, CAL_SIZE_W, CAL_SIZE_H, title, desc) + "".join(parts) + "</svg>"
    legend = _legend([(s.name, s.css_class) for s in series] + [("Perfect calibration", "series-diagonal")], "line")
    return _figure("calibration", chart_id, svg, legend, _calibration_table(title, filled))


def _bucket_sentence(name: str, bucket: Mapping) -> str:
    count = bucket["count"]
    return (
        f"{name}: {count} forecast{'' if count == 1 else 's'} between {_pct(bucket['low'])} and "
        f"{_pct(bucket['high'])}, mean {_pct(bucket['mean_forecast'])}, {_pct(bucket['observed'])} resolved YES"
    )


def _calibration_desc(filled: list[tuple[CalibrationSeries, list[Mapping]]], empty_text: str) -> str:
    if not any(buckets for _, buckets in filled):
        return empty_text
    sentences = []
    for s, buckets in filled:
        total = sum(b["count"] for b in buckets)
        sentences.append(f"{s.name}: {total} forecast{'' if total == 1 else 's'} in {len(buckets)} of 10 ranges.")
    sentences.append("Points on the dashed diagonal are perfectly calibrated; the table below lists every point.")
    return " ".join(sentences)


def _calibration_table(title: str, filled: list[tuple[CalibrationSeries, list[Mapping]]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(s.name)}</td><td>{_pct(b['low'])}\N{EN DASH}{_pct(b['high'])}</td>"
        f'<td class="num">{b["count"]}</td>'
        f'<td class="num">{_pct(b["mean_forecast"])}</td><td class="num">{_pct(b["observed"])}</td></tr>'
        for s, buckets in filled
        for b in buckets
    )
    if not rows:
        return ""
    return (
        '<details class="chart-data"><summary>Data table</summary><div class="table-wrap">'
        f'<table class="table"><caption class="visually-hidden">{escape(title)}: data</caption>'
        '<thead><tr><th scope="col">Source</th><th scope="col">Forecast range</th>'
        '<th scope="col" class="num">Forecasts</th>'
        '<th scope="col" class="num">Mean forecast</th><th scope="col" class="num">Resolved YES</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
    )
