//! The chart is a pure function: ranges, threshold, shading, escaping, empty
//! and non-finite data.

use mapek_engine::model::ComparisonOperator;

use super::{Chart, Mark, Span, clock, number, svg, x_range, y_range};

fn chart(series: Vec<(i64, f64)>) -> Chart {
    Chart {
        series,
        threshold: Some(0.5),
        operator: ComparisonOperator::GreaterThan,
        start_ms: 0,
        end_ms: 600_000,
        spans: vec![],
        marks: vec![],
        title: "latency".into(),
    }
}

#[test]
fn the_y_range_holds_every_value_and_the_threshold() {
    let (lo, hi) = y_range(&[(0, 0.2), (1, 0.4)], Some(0.9));
    assert!((0.0..=0.2).contains(&lo), "{lo}");
    assert!(hi > 0.9, "{hi}");
    // Only the threshold: still a range.
    let (lo, hi) = y_range(&[], Some(5.0));
    assert!(lo < 5.0 && hi > 5.0);
    // Negative values are not clamped at zero.
    let (lo, _) = y_range(&[(0, -3.0), (1, -1.0)], None);
    assert!(lo < -3.0);
    // Nothing finite: the unit range.
    assert_eq!(
        y_range(&[(0, f64::NAN), (1, f64::INFINITY)], Some(f64::NAN)),
        (0.0, 1.0)
    );
    // A flat series gets a non-zero range.
    let (lo, hi) = y_range(&[(0, 0.0), (1, 0.0)], None);
    assert!(hi > lo);
}

#[test]
fn the_x_range_is_never_empty() {
    assert_eq!(x_range(10, 20), (10, 20));
    assert_eq!(x_range(10, 10), (10, 60_010));
    assert_eq!(x_range(10, 5), (10, 60_010));
}

#[test]
fn the_threshold_is_a_dashed_line_and_violations_are_points() {
    let s = svg(&chart(vec![
        (0, 0.1),
        (60_000, 0.7),
        (120_000, 0.8),
        (180_000, 0.2),
    ]));
    assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
    assert_eq!(s.matches("class=\"threshold\"").count(), 1);
    assert!(s.contains("threshold 0.500"));
    assert_eq!(s.matches("class=\"violation\"").count(), 2);
    assert_eq!(s.matches("class=\"series\"").count(), 1);
    // A less-than policy: the low values are the violations.
    let mut c = chart(vec![(0, 0.1), (60_000, 0.7)]);
    c.operator = ComparisonOperator::LessThan;
    assert_eq!(svg(&c).matches("class=\"violation\"").count(), 1);
}

#[test]
fn the_breach_is_shaded_and_the_change_marked_within_the_plot() {
    let mut c = chart(vec![(0, 0.1), (600_000, 0.9)]);
    c.spans = vec![Span {
        from_ms: 300_000,
        to_ms: 600_000,
        label: "breach".into(),
        colour: "#c0392b",
    }];
    c.marks = vec![Mark {
        at_ms: -5_000_000,
        label: "revision 4 of web".into(),
    }];
    let s = svg(&c);
    assert_eq!(s.matches("class=\"span\"").count(), 1);
    // Half the plot: from the middle to the right edge (64 + 680 / 2 = 404).
    assert!(
        s.contains("class=\"span\" x=\"404.0\" y=\"16\" width=\"340.0\""),
        "{s}"
    );
    // A mark before the window is drawn on its left edge, not outside.
    assert!(s.contains("class=\"mark\" x1=\"64.0\""), "{s}");
    assert!(s.contains("revision 4 of web"));
}

#[test]
fn every_text_is_escaped() {
    let mut c = chart(vec![(0, 1.0)]);
    c.title = "rate(x{job=\"<script>\"}[5m]) & more".into();
    c.marks = vec![Mark {
        at_ms: 0,
        label: "<b>'x'</b>".into(),
    }];
    c.spans = vec![Span {
        from_ms: 0,
        to_ms: 1,
        label: "a<b".into(),
        colour: "red\"/><script>",
    }];
    let s = svg(&c);
    assert!(!s.contains("<script>") && !s.contains("<b>"), "{s}");
    assert!(s.contains("&lt;script&gt;") && s.contains("&amp; more") && s.contains("&#39;x&#39;"));
}

#[test]
fn empty_and_non_finite_data_never_panic() {
    let s = svg(&chart(vec![]));
    assert!(s.contains("no samples in this range"));
    assert!(!s.contains("class=\"series\""));
    let s = svg(&chart(vec![
        (0, f64::NAN),
        (30_000, 0.7),
        (60_000, f64::INFINITY),
        (90_000, 0.8),
        (120_000, f64::NEG_INFINITY),
    ]));
    // The line breaks at each non-finite value; no NaN reaches the SVG.
    assert_eq!(s.matches("class=\"series\"").count(), 2);
    assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
    let mut c = chart(vec![(0, f64::NAN)]);
    c.threshold = Some(f64::NAN);
    c.start_ms = i64::MAX - 1;
    c.end_ms = i64::MIN;
    let s = svg(&c);
    assert!(!s.contains("NaN") && !s.contains("class=\"threshold\""));
}

#[test]
fn numbers_and_clock_times_read_well() {
    assert_eq!(number(0.5), "0.500");
    assert_eq!(number(12.345), "12.35");
    assert_eq!(number(1234.0), "1234");
    assert_eq!(number(0.0), "0.000");
    assert_eq!(number(1.5e9), "1.50e9");
    assert_eq!(clock(0), "00:00");
    assert_eq!(clock(13 * 3_600_000 + 5 * 60_000 + 59_000), "13:05");
    assert_eq!(clock(-60_000), "23:59");
}

/// Found by the `prometheus_response` fuzz target: values near `f64::MAX` made
/// the axis's span overflow to infinity and the coordinates NaN.
#[test]
fn values_near_the_largest_float_draw_finite_coordinates() {
    let series = vec![(0, 1.7e308), (60_000, -1.7e308), (120_000, 3.0)];
    let (lo, hi) = y_range(&series, Some(f64::MAX));
    assert!(
        lo.is_finite() && hi.is_finite() && hi - lo > 0.0,
        "{lo} {hi}"
    );
    let mut c = chart(series);
    c.threshold = Some(f64::MAX);
    let drawn = svg(&c);
    assert!(!drawn.contains("NaN") && !drawn.contains("inf"), "{drawn}");
}
