//! The metric chart of the review page, drawn server-side as SVG: a pure
//! function of the series, the threshold, the shaded spans (the breach's run,
//! its episode) and the marks (the rollout change). No I/O, no panics on NaN,
//! infinities or empty data; every text is escaped.

use std::fmt::Write as _;

use mapek_engine::model::{ComparisonOperator, Millis};

use super::html::esc;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// A span of time shaded on the chart, such as the breach's run (labels of
/// later spans are drawn lower, so that they do not overlap).
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub from_ms: Millis,
    pub to_ms: Millis,
    pub label: String,
    /// A CSS colour.
    pub colour: &'static str,
}

/// A moment marked with a vertical line, such as a rollout change.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub at_ms: Millis,
    pub label: String,
}

/// What the chart shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// The metric's samples: time (ms) and value, in time order.
    pub series: Vec<(Millis, f64)>,
    pub threshold: Option<f64>,
    pub operator: ComparisonOperator,
    pub start_ms: Millis,
    pub end_ms: Millis,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
    /// What the chart is of, for its title and `aria-label`.
    pub title: String,
}

/// The largest magnitude the y axis spans: values beyond it are drawn at its
/// edge, so that no difference of two axis values overflows to infinity (which
/// made NaN coordinates for values near `f64::MAX`).
const Y_LIMIT: f64 = f64::MAX / 4.0;

/// The value range of the y axis: every finite value and the threshold (within
/// ±`Y_LIMIT`), with 8% headroom; a flat or empty range is widened so that it is
/// never zero.
pub fn y_range(series: &[(Millis, f64)], threshold: Option<f64>) -> (f64, f64) {
    let values = series
        .iter()
        .map(|&(_, v)| v)
        .chain(threshold)
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-Y_LIMIT, Y_LIMIT));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        (lo.abs() * 0.1).max(1.0)
    };
    let lo = if lo >= 0.0 && lo - pad < 0.0 {
        0.0
    } else {
        lo - pad
    };
    (lo, hi + pad)
}

/// The x axis: `start..end`, widened to one minute when it is empty or reversed.
pub fn x_range(start_ms: Millis, end_ms: Millis) -> (Millis, Millis) {
    if end_ms > start_ms {
        (start_ms, end_ms)
    } else {
        (start_ms, start_ms.saturating_add(60_000))
    }
}

/// Maps time and value to SVG coordinates.
struct Scale {
    x0: Millis,
    x1: Millis,
    y0: f64,
    y1: f64,
}

impl Scale {
    fn x(&self, ms: Millis) -> f64 {
        let ms = ms.clamp(self.x0, self.x1);
        LEFT + (ms - self.x0) as f64 / (self.x1 - self.x0) as f64 * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        let v = v.clamp(self.y0, self.y1);
        TOP + (self.y1 - v) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)
    }
}

/// The chart as an inline `<svg>` element.
pub fn svg(chart: &Chart) -> String {
    let (x0, x1) = x_range(chart.start_ms, chart.end_ms);
    let (y0, y1) = y_range(&chart.series, chart.threshold);
    let s = Scale { x0, x1, y0, y1 };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{w}\" height=\"{h}\" fill=\"#fff\" stroke=\"#ccc\"/>",
        t = esc(&chart.title),
        w = WIDTH - LEFT - RIGHT,
        h = HEIGHT - TOP - BOTTOM,
    );
    spans(&mut out, &s, &chart.spans);
    axes(&mut out, &s);
    line(&mut out, &s, &chart.series);
    if let Some(t) = chart.threshold.filter(|t| t.is_finite()) {
        threshold(&mut out, &s, t);
        violations(&mut out, &s, &chart.series, chart.operator, t);
    }
    marks(&mut out, &s, &chart.marks);
    if !chart.series.iter().any(|(_, v)| v.is_finite()) {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"empty\">no samples in this range</text>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
    }
    out.push_str("</svg>");
    out
}

fn spans(out: &mut String, s: &Scale, spans: &[Span]) {
    for (i, span) in spans.iter().enumerate() {
        let (a, b) = (s.x(span.from_ms), s.x(span.to_ms.max(span.from_ms)));
        let _ = write!(
            out,
            "<rect class=\"span\" x=\"{a:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{}\" fill-opacity=\"0.18\"><title>{}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{}</text>",
            (b - a).max(1.0),
            HEIGHT - TOP - BOTTOM,
            esc(span.colour),
            esc(&span.label),
            a + 3.0,
            TOP + 12.0 + 13.0 * i as f64,
            esc(&span.label)
        );
    }
}

fn axes(out: &mut String, s: &Scale) {
    for i in 0..=4 {
        let v = s.y0 + (s.y1 - s.y0) / 4.0 * f64::from(i);
        let y = s.y(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"tick\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            number(v)
        );
    }
    for i in 0..=6 {
        let ms = s.x0 + (s.x1 - s.x0) * i / 6;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"tick\">{}</text>",
            s.x(ms),
            HEIGHT - BOTTOM + 16.0,
            clock(ms)
        );
    }
}

/// The series as a polyline, broken where a value is not finite.
fn line(out: &mut String, s: &Scale, series: &[(Millis, f64)]) {
    for run in series.split(|(_, v)| !v.is_finite()) {
        if run.is_empty() {
            continue;
        }
        let points: Vec<String> = run
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", s.x(t), s.y(v)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"series\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        );
    }
}

fn threshold(out: &mut String, s: &Scale, t: f64) {
    let y = s.y(t);
    let _ = write!(
        out,
        "<line class=\"threshold\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" \
         stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"label\">threshold {}</text>",
        WIDTH - RIGHT,
        WIDTH - RIGHT - 4.0,
        y - 4.0,
        number(t)
    );
}

fn violations(
    out: &mut String,
    s: &Scale,
    series: &[(Millis, f64)],
    op: ComparisonOperator,
    t: f64,
) {
    for &(ms, v) in series
        .iter()
        .filter(|(_, v)| v.is_finite() && op.violates(*v, t))
    {
        let _ = write!(
            out,
            "<circle class=\"violation\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#c0392b\"/>",
            s.x(ms),
            s.y(v)
        );
    }
}

fn marks(out: &mut String, s: &Scale, marks: &[Mark]) {
    for m in marks {
        let x = s.x(m.at_ms);
        let _ = write!(
            out,
            "<line class=\"mark\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" \
             stroke=\"#8e44ad\" stroke-width=\"2\"><title>{l}</title></line>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"label\" fill=\"#8e44ad\">{l}</text>",
            HEIGHT - BOTTOM,
            x + 3.0,
            HEIGHT - BOTTOM - 6.0,
            l = esc(&m.label)
        );
    }
}

/// A value for an axis label: three significant digits, without noise.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(0.001..100_000.0).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A time of day in UTC, `HH:MM`.
pub fn clock(ms: Millis) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests;
