//! The Numenta Anomaly Benchmark's scoring, written from its description (NAB's
//! README and the rules of nab/scorer.py and nab/sweeper.py): windows of point
//! indices, a probationary period nobody is scored in, a scaled sigmoid that pays
//! early detections in a window more and charges false positives less the closer
//! they follow a window, and the normalisation between the null and the perfect
//! detector.

/// A cost profile: the weight of a true positive, a false positive and a miss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

/// NAB's standard profile.
pub const STANDARD: Profile = Profile {
    tp: 1.0,
    fp: 0.11,
    fn_: 1.0,
};

/// A labelled anomaly window as point indices, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub first: usize,
    pub last: usize,
}

impl Window {
    fn width(self) -> usize {
        self.last - self.first + 1
    }
}

/// Points NAB leaves unscored at the start of a file of `n` points: 15 %, at most
/// 750 (15 % of 5000).
pub fn probation(n: usize) -> usize {
    (n * 15 / 100).min(750)
}

/// `2 * sigmoid(-5 x) - 1`: about 0.987 at -1 (a window's first point), 0 at 0
/// (past its last point), about -0.987 at 1; -1 from 3 on.
pub fn scaled_sigmoid(x: f64) -> f64 {
    if x >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// What a detector did on one file.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FileScore {
    /// The weighted sum NAB ranks detectors by.
    pub raw: f64,
    /// Scored windows (those with a point after the probationary period).
    pub windows: usize,
    /// Scored windows with a detection.
    pub caught: usize,
    /// Scored detections outside every window.
    pub false_positives: usize,
}

/// Scores the detections (point indices, any order) of one file of `n` points
/// with `windows` (sorted, disjoint, inside `0..n`).
pub fn score(n: usize, windows: &[Window], detections: &[usize], profile: Profile) -> FileScore {
    let probation = probation(n);
    let mut detections: Vec<usize> = detections
        .iter()
        .copied()
        .filter(|&i| i >= probation && i < n)
        .collect();
    detections.sort_unstable();
    detections.dedup();
    let max_tp = scaled_sigmoid(-1.0);
    let mut s = FileScore::default();
    // A window only counts when some of it is after the probationary period.
    for w in windows.iter().filter(|w| w.last >= probation) {
        s.windows += 1;
        // The first scored detection inside the window; later ones add nothing.
        match detections.iter().find(|&&i| i >= w.first && i <= w.last) {
            Some(&i) => {
                s.caught += 1;
                let position = -((w.last - i + 1) as f64) / w.width() as f64;
                s.raw += scaled_sigmoid(position) * profile.tp / max_tp;
            }
            None => s.raw -= profile.fn_,
        }
    }
    for &i in &detections {
        if windows.iter().any(|w| i >= w.first && i <= w.last) {
            continue;
        }
        s.false_positives += 1;
        // Weighted by how far it follows the closest preceding window (in that
        // window's widths); full weight when no window precedes it.
        let position = match windows.iter().rev().find(|w| w.last < i) {
            Some(w) if w.width() > 1 => (i - w.last) as f64 / (w.width() - 1) as f64,
            _ => 3.0,
        };
        s.raw += scaled_sigmoid(position) * profile.fp;
    }
    s
}

/// The detector that never fires: minus the miss weight per scored window.
pub fn null_score(n: usize, windows: &[Window], profile: Profile) -> f64 {
    score(n, windows, &[], profile).raw
}

/// The detector that fires at each window's first scored point.
pub fn perfect_score(n: usize, windows: &[Window], profile: Profile) -> f64 {
    let probation = probation(n);
    let detections: Vec<usize> = windows
        .iter()
        .filter(|w| w.last >= probation)
        .map(|w| w.first.max(probation))
        .collect();
    score(n, windows, &detections, profile).raw
}

/// `100 * (raw - null) / (perfect - null)` over sums across files; 0 when the
/// perfect and the null detector tie (no scored window anywhere).
pub fn normalized(raw: f64, null: f64, perfect: f64) -> f64 {
    if perfect - null > 0.0 {
        100.0 * (raw - null) / (perfect - null)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 1000 points: 150 are probationary.
    const N: usize = 1000;
    const W: Window = Window {
        first: 400,
        last: 499,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_detection_at_the_window_start_scores_the_tp_weight() {
        let s = score(N, &[W], &[400], STANDARD);
        assert!(close(s.raw, 1.0), "{s:?}");
        assert_eq!((s.windows, s.caught, s.false_positives), (1, 1, 0));
        assert!(close(perfect_score(N, &[W], STANDARD), 1.0));
    }

    #[test]
    fn later_in_the_window_scores_less() {
        let mid = score(N, &[W], &[450], STANDARD).raw;
        let end = score(N, &[W], &[499], STANDARD).raw;
        assert!(mid < 1.0 && mid > 0.5, "{mid}");
        assert!(end < mid && end > 0.0, "{end}");
    }

    #[test]
    fn no_detection_scores_the_null() {
        let s = score(N, &[W], &[], STANDARD);
        assert!(close(s.raw, -1.0));
        assert!(close(null_score(N, &[W], STANDARD), -1.0));
        assert_eq!(s.caught, 0);
        assert!(close(normalized(s.raw, -1.0, 1.0), 0.0));
        assert!(close(normalized(1.0, -1.0, 1.0), 100.0));
    }

    #[test]
    fn a_false_positive_before_any_window_costs_the_fp_weight() {
        let s = score(N, &[W], &[300], STANDARD);
        assert!(close(s.raw, -1.0 - 0.11), "{s:?}");
        assert_eq!(s.false_positives, 1);
        // Right after a window it costs less than far after it.
        let near = score(N, &[W], &[400, 505], STANDARD).raw;
        let far = score(N, &[W], &[400, 900], STANDARD).raw;
        assert!(near > far && far < 1.0 - 0.1, "{near} {far}");
    }

    #[test]
    fn only_the_first_detection_in_a_window_counts() {
        let first = score(N, &[W], &[410], STANDARD);
        let more = score(N, &[W], &[410, 420, 499], STANDARD);
        assert!(close(first.raw, more.raw));
        assert_eq!((more.caught, more.false_positives), (1, 0));
    }

    #[test]
    fn probationary_detections_and_windows_are_not_scored() {
        let early = Window {
            first: 10,
            last: 20,
        };
        let s = score(N, &[early, W], &[15, 100], STANDARD);
        assert_eq!((s.windows, s.caught, s.false_positives), (1, 0, 0));
        assert!(close(s.raw, -1.0));
        assert_eq!(probation(100_000), 750);
        assert_eq!(probation(1000), 150);
    }
}
