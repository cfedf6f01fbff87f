"""Server-side SVG charts: exact geometry for known inputs, the edge cases, escaping, and the CSP rule
(no style attribute, no <style> element)."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from apps.web.charts import (
    LINE_BOTTOM,
    LINE_TOP,
    CalibrationSeries,
    Series,
    calibration_chart,
    line_chart,
    point_radius,
    time_ticks,
    y_position,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # a Sunday
HOUR = timedelta(hours=1)


def paths(html: str) -> list[str]:
    return re.findall(r'<path class="chart-line" d="([^"]*)"', html)


def circles(html: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<circle class="chart-point" cx="([^"]*)" cy="([^"]*)" r="([^"]*)"', html)


def tick_labels(html: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<text class="chart-tick" x="([^"]*)" y="([^"]*)"[^>]*>([^<]*)</text>', html)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)


def assert_csp_safe(html: str) -> None:
    """What the strict CSP refuses: a style attribute, a <style> or <script> element, an inline handler."""
    parser = _Tags()
    parser.feed(html)
    assert parser.tags[0] == "figure"
    assert not {"style", "script"} & set(parser.tags)
    assert "style" not in parser.attributes
    assert not [name for name in parser.attributes if name.startswith("on")]


# --- Scales -------------------------------------------------------------------------------------------


def test_fifty_percent_is_the_vertical_middle_of_the_plot():
    assert y_position(0.5) == 120.0 == (LINE_TOP + LINE_BOTTOM) / 2
    assert y_position(0) == 220.0
    assert y_position(1) == 20.0
    assert y_position(Decimal("0.25")) == 170.0


def test_out_of_range_probabilities_are_clamped_to_the_plot():
    assert y_position(1.2) == 20.0
    assert y_position(-0.1) == 220.0


def test_hour_ticks_under_a_day():
    ticks = time_ticks(T0, T0 + 10 * HOUR)  # hourly would be 11 ticks: 2-hourly is the first with at most 5
    assert [label for _, label in ticks] == ["10:00", "12:00", "14:00", "16:00", "18:00"]
    assert [t for t, _ in ticks] == [T0 + HOUR, T0 + 3 * HOUR, T0 + 5 * HOUR, T0 + 7 * HOUR, T0 + 9 * HOUR]
    ticks = time_ticks(T0, T0 + 12 * HOUR)  # 2-hourly would be 6
    assert [label for _, label in ticks] == ["09:00", "12:00", "15:00", "18:00", "21:00"]


def test_hour_ticks_over_more_than_a_day_carry_the_date_and_midnight_names_the_day():
    ticks = time_ticks(T0, T0 + 36 * HOUR)
    assert [label for _, label in ticks] == ["1 Mar 12:00", "2 Mar", "2 Mar 12:00"]


def test_week_ticks_fall_on_mondays():
    ticks = time_ticks(T0, T0 + timedelta(days=26))  # 4-daily would be 6 ticks
    assert [label for _, label in ticks] == ["2 Mar", "9 Mar", "16 Mar", "23 Mar"]


def x_labels(html: str) -> list[str]:
    """The x axis's labels (the y axis's sit left of the plot, at x = 52)."""
    return [label for x, _, label in tick_labels(html) if x != "52"]


def history(days: int) -> str:
    """A market's price history over `days`, from a Tuesday morning, a trade every six hours."""
    start = T0 + timedelta(days=2)
    points = [(start + n * 6 * HOUR, 0.5 + 0.01 * (n % 10)) for n in range(days * 4 + 1)]
    return line_chart(series=[Series(name="Market price", css_class="series-market", points=points, step=True)])


def test_a_twelve_day_history_is_labelled_every_three_days():
    # 2-daily would be 6 ticks; weekly gave only Monday 9 Mar.
    assert x_labels(history(12)) == ["6 Mar", "9 Mar", "12 Mar", "15 Mar"]


@pytest.mark.parametrize("days", [5, 12, 40])
def test_a_history_of_days_or_weeks_gets_three_to_eight_x_labels(days):
    assert 3 <= len(x_labels(history(days))) <= 8


def test_month_and_year_ticks():
    months = time_ticks(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 9, 15, tzinfo=UTC))
    assert [label for _, label in months] == ["Mar 2026", "May 2026", "Jul 2026", "Sep 2026"]
    quarters = time_ticks(datetime(2026, 1, 15, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC))
    assert [label for _, label in quarters] == ["Apr 2026", "Jul 2026", "Oct 2026", "Jan 2027"]
    years = time_ticks(datetime(2020, 6, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))
    assert [label for _, label in years] == ["2022", "2024", "2026"]


def test_a_range_within_one_minute_is_labelled_at_both_ends():
    ticks = time_ticks(T0 + timedelta(seconds=5), T0 + timedelta(seconds=40))
    assert ticks == [(T0 + timedelta(seconds=5), "09:00:05"), (T0 + timedelta(seconds=40), "09:00:40")]
    # a minute boundary inside: the usual minute tick
    ticks = time_ticks(T0 + timedelta(seconds=30), T0 + timedelta(seconds=89))
    assert [label for _, label in ticks] == ["09:01"]


def test_a_range_within_one_second_has_one_tick_not_two_alike():
    # a new claim: its first price, and the page rendered a moment later
    published = T0 + timedelta(seconds=5, milliseconds=120)
    assert time_ticks(published, published + timedelta(milliseconds=300)) == [(published, "09:00:05")]
    html = line_chart(
        series=[Series(name="Market price of YES", css_class="series-market", points=[(published, 0.5)], step=True)],
        title="Price history",
        end=published + timedelta(milliseconds=300),
    )
    assert [label for _, y, label in tick_labels(html) if y == "240"] == ["09:00:05"]


def test_no_ticks_for_an_empty_range():
    assert time_ticks(T0, T0) == []


def test_point_radius_grows_with_count_and_is_capped():
    assert point_radius(1) == 4.5
    assert point_radius(4) == 6.0
    assert point_radius(16) == 9.0
    assert point_radius(500) == 10.0


# --- Line chart ---------------------------------------------------------------------------------------


def test_line_chart_places_points_exactly():
    html = line_chart(
        series=[
            Series(
                name="Consensus",
                css_class="series-consensus",
                points=[(T0, 0.5), (T0 + 5 * HOUR, 0.75), (T0 + 10 * HOUR, Decimal("0.25"))],
            )
        ],
        title="Consensus history",
        y_label="Probability of YES",
    )
    assert paths(html) == ["M60 120L260 70L460 170"]
    assert circles(html) == [("60", "120", "3.5"), ("260", "70", "3.5"), ("460", "170", "3.5")]
    assert '<g class="chart-series series-consensus">' in html
    assert_csp_safe(html)


def test_line_chart_axes_ticks_and_labels():
    html = line_chart(
        series=[Series(name="Market price", css_class="series-market", points=[(T0, 0.5), (T0 + 10 * HOUR, 0.6)])],
        title="Price history",
        y_label="Probability of YES",
        x_label="Time (UTC)",
    )
    assert tick_labels(html) == [
        ("52", "220", "0%"),
        ("52", "170", "25%"),
        ("52", "120", "50%"),
        ("52", "70", "75%"),
        ("52", "20", "100%"),
        ("100", "240", "10:00"),
        ("180", "240", "12:00"),
        ("260", "240", "14:00"),
        ("340", "240", "16:00"),
        ("420", "240", "18:00"),
    ]
    assert (
        '<text class="chart-label" transform="rotate(-90)" x="-120" y="16" text-anchor="middle" '
        'fill="#1c2330">Probability of YES</text>'
    ) in html
    assert '<text class="chart-label" x="260" y="272" text-anchor="middle" fill="#1c2330">Time (UTC)</text>' in html


def test_points_are_drawn_in_time_order():
    html = line_chart(
        series=[Series(name="Consensus", css_class="series-consensus", points=[(T0 + 10 * HOUR, 0.25), (T0, 0.5)])],
        title="Consensus history",
    )
    assert paths(html) == ["M60 120L460 170"]
    assert "Consensus: 50% at 1 Mar 2026 09:00, 25% at 1 Mar 2026 19:00" in html


def test_step_series_holds_each_price_until_the_next_and_until_end():
    html = line_chart(
        series=[
            Series(name="Market price", css_class="series-market", points=[(T0, 0.5), (T0 + 5 * HOUR, 0.75)], step=True)
        ],
        title="Price history",
        end=T0 + 10 * HOUR,
    )
    assert paths(html) == ["M60 120H260V70H460"]
    assert circles(html) == []  # a step line carries no markers


def test_start_widens_the_time_axis():
    html = line_chart(
        series=[Series(name="Market price", css_class="series-market", points=[(T0 + 5 * HOUR, 0.5)], step=True)],
        title="Price history",
        start=T0,
        end=T0 + 10 * HOUR,
    )
    assert paths(html) == ["M260 120H460"]
    assert circles(html) == [("260", "120", "3.5")]  # a single point is always marked


def test_a_single_point_sits_in_the_middle_of_the_time_axis():
    html = line_chart(series=[Series(name="Market price", css_class="series-market", points=[(T0, 0.5)])], title="P")
    assert paths(html) == ["M260 120"]
    assert circles(html) == [("260", "120", "3.5")]
    assert "Market price: 50% at 1 Mar 2026 09:00." in html


def test_points_all_at_the_same_moment_share_the_middle():
    html = line_chart(
        series=[Series(name="Market price", css_class="series-market", points=[(T0, 0.25), (T0, 0.75)])], title="P"
    )
    assert paths(html) == ["M260 170L260 70"]


def test_a_chart_without_points_says_so():
    html = line_chart(series=[Series(name="Market price", css_class="series-market", points=[])], title="Price")
    assert paths(html) == []
    assert circles(html) == []
    assert ">No data yet.</text>" in html
    assert '<desc id="chart-line-price-desc">Market price: no data.</desc>' in html
    # The y axis is still drawn; without any moment there are no time ticks.
    assert [label for _, _, label in tick_labels(html)] == ["0%", "25%", "50%", "75%", "100%"]
    no_series = line_chart(series=[], title="Price", empty_text="No trades yet.")
    assert '<desc id="chart-line-price-desc">No trades yet.</desc>' in no_series
    assert '<ul class="chart-legend"' not in no_series


def test_line_chart_is_an_accessible_image_with_a_text_description():
    html = line_chart(
        series=[
            Series(
                name="Market price",
                css_class="series-market",
                points=[(T0, 0.5), (T0 + HOUR, Decimal("0.625")), (T0 + 2 * HOUR, 0.4)],
                step=True,
            ),
            Series(name="Consensus", css_class="series-consensus", points=[(T0 + HOUR, 0.7)]),
        ],
        title="Price history",
        chart_id="price-history",
    )
    assert html.startswith('<figure class="chart chart-line" id="price-history">')
    assert 'role="img" aria-labelledby="price-history-title price-history-desc"' in html
    assert '<title id="price-history-title">Price history</title>' in html
    assert (
        '<desc id="price-history-desc">Market price: 50% at 1 Mar 2026 09:00, 40% at 1 Mar 2026 11:00; '
        "lowest 40%, highest 63%, 3 points. Consensus: 70% at 1 Mar 2026 10:00.</desc>"
    ) in html
    assert (
        '<ul class="chart-legend" aria-hidden="true">'
        '<li><span class="chart-swatch chart-swatch-line series-market" aria-hidden="true"></span>Market price</li>'
        '<li><span class="chart-swatch chart-swatch-line series-consensus" aria-hidden="true"></span>Consensus</li>'
        "</ul>"
    ) in html
    assert_csp_safe(html)


def test_line_chart_escapes_every_text():
    evil = '<script>alert("x")</script> & co'
    html = line_chart(
        series=[Series(name=evil, css_class='series-1" onmouseover="x', points=[(T0, 0.5)])],
        title=evil,
        y_label=evil,
        x_label=evil,
        empty_text=evil,
    )
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"
    assert "<script>" not in html
    assert f'<title id="chart-line-scriptalertxscript-co-title">{escaped}</title>' in html
    assert html.count(escaped) == 5  # title, desc, y label, x label, legend
    assert 'class="chart-series series-1&quot; onmouseover=&quot;x"' in html
    assert_csp_safe(html)


# --- Calibration chart --------------------------------------------------------------------------------


def bucket(low: float, count: int, mean: float | None, observed: float | None) -> dict:
    return {"low": low, "high": round(low + 0.1, 1), "count": count, "mean_forecast": mean, "observed": observed}


def test_calibration_chart_places_points_and_draws_the_diagonal():
    html = calibration_chart(
        series=[
            CalibrationSeries(
                name="Market price",
                css_class="series-market",
                buckets=[bucket(0.0, 0, None, None), bucket(0.2, 4, 0.25, 0.0), bucket(0.5, 16, 0.5, 0.5)],
            ),
            CalibrationSeries(name="Consensus", css_class="series-consensus", buckets=[bucket(0.7, 1, 0.75, 1.0)]),
        ],
        title="Calibration",
        chart_id="cal",
    )
    # x = 60 + p * 320, y = 340 - observed * 320: 50% is (220, 180).
    assert '<polyline class="chart-line" points="140,340 220,180"' in html
    assert circles(html) == [("140", "340", "6"), ("220", "180", "9"), ("300", "20", "4.5")]
    assert html.count("<polyline") == 1  # one point alone is not joined
    assert (
        '<line class="chart-diagonal" x1="60" y1="340" x2="380" y2="20" stroke="#5d6778" stroke-width="1.5" '
        'stroke-dasharray="6 5"/>'
    ) in html
    assert ">Forecast probability of YES</text>" in html
    assert ">Observed frequency of YES</text>" in html
    assert [label for _, _, label in tick_labels(html)] == [
        "0%", "0%", "25%", "25%", "50%", "50%", "75%", "75%", "100%", "100%",
    ]  # fmt: skip
    assert "<title>Market price: 16 forecasts between 50% and 60%, mean 50%, 50% resolved YES</title>" in html
    assert (
        '<desc id="cal-desc">Market price: 20 forecasts in 2 of 10 ranges. Consensus: 1 forecast in 1 of 10 ranges. '
        "Points on the dashed diagonal are perfectly calibrated; the table below lists every point.</desc>"
    ) in html
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td>" + r'<td class="num">([^<]*)</td>' * 3 + "</tr>", html)
    assert rows == [
        ("Market price", "20%\N{EN DASH}30%", "4", "25%", "0%"),
        ("Market price", "50%\N{EN DASH}60%", "16", "50%", "50%"),
        ("Consensus", "70%\N{EN DASH}80%", "1", "75%", "100%"),
    ]
    assert ">Perfect calibration</li>" in html
    assert_csp_safe(html)


def test_calibration_chart_without_forecasts_says_so_and_has_no_table():
    html = calibration_chart(
        series=[
            CalibrationSeries(name="Market price", css_class="series-market", buckets=[bucket(0.0, 0, None, None)])
        ],
        chart_id="cal",
    )
    assert circles(html) == []
    assert "<polyline" not in html
    assert ">No resolved forecasts yet.</text>" in html
    assert '<desc id="cal-desc">No resolved forecasts yet.</desc>' in html
    assert "<table" not in html


def test_calibration_chart_escapes_names():
    html = calibration_chart(
        series=[CalibrationSeries(name="<b>@x</b>", css_class="series-source", buckets=[bucket(0.9, 2, 0.95, 1.0)])],
        title="A & B",
        chart_id="cal",
    )
    assert "<b>" not in html
    assert html.count("&lt;b&gt;@x&lt;/b&gt;") == 4  # desc, point title, legend, table
    assert '<title id="cal-title">A &amp; B</title>' in html
