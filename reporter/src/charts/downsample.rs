//! Native charts carry at most about 2,000 points per series: PowerPoint slows down past
//! that and no slide shows more. Longer series are cut into buckets and each bucket keeps
//! the points where any series has its minimum or maximum, so spikes and dips survive.

/// The most points per series a native chart gets.
pub const MAX_POINTS: usize = 2000;

/// The indices to keep (sorted) when the series (all of the same length, sharing their
/// categories) must fit in `max` points.
pub fn keep(series: &[&[f64]], max: usize) -> Vec<usize> {
    let n = series.iter().map(|s| s.len()).max().unwrap_or(0);
    if n <= max {
        return (0..n).collect();
    }
    let per_bucket = 2 * series.len().max(1);
    let buckets = (max / per_bucket).max(1);
    let size = n.div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for b in 0..buckets {
        let (lo, hi) = (b * size, ((b + 1) * size).min(n));
        if lo >= hi {
            break;
        }
        let mut picks = Vec::with_capacity(per_bucket);
        for s in series {
            let mut min: Option<(usize, f64)> = None;
            let mut max: Option<(usize, f64)> = None;
            for (i, v) in s.iter().enumerate().take(hi).skip(lo) {
                if !v.is_finite() {
                    continue;
                }
                if min.is_none_or(|(_, m)| *v < m) {
                    min = Some((i, *v));
                }
                if max.is_none_or(|(_, m)| *v > m) {
                    max = Some((i, *v));
                }
            }
            picks.extend(min.map(|m| m.0));
            picks.extend(max.map(|m| m.0));
        }
        if picks.is_empty() {
            // All gaps: keep one to show the gap.
            picks.push(lo);
        }
        picks.sort_unstable();
        picks.dedup();
        out.extend(picks);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_extremes_within_the_budget() {
        let a: Vec<f64> = (0..40_320).map(|i| ((i as f64) / 500.0).sin()).collect();
        let mut b = vec![0.0; 40_320];
        b[12_345] = 1e6;
        b[30_000] = f64::NAN;
        let k = keep(&[&a, &b], MAX_POINTS);
        assert!(
            k.len() <= MAX_POINTS && k.len() > MAX_POINTS / 2,
            "{}",
            k.len()
        );
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        assert!(k.contains(&12_345), "the spike survives");
        let kept_max = k.iter().map(|i| a[*i]).fold(f64::MIN, f64::max);
        let kept_min = k.iter().map(|i| a[*i]).fold(f64::MAX, f64::min);
        assert_eq!(
            (kept_max, kept_min),
            (
                a.iter().copied().fold(f64::MIN, f64::max),
                a.iter().copied().fold(f64::MAX, f64::min)
            )
        );
        assert_eq!(keep(&[&[1.0, 2.0]], 10), vec![0, 1]);
        assert_eq!(
            keep(&[&[f64::NAN; 50]], 10).len(),
            5,
            "one point per all-gap bucket"
        );
    }
}
