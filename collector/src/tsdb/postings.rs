//! The inverted index shared by the head and blocks: label name → value → sorted ids.

use std::collections::HashMap;

use super::labels::Matcher;

pub type Postings<I> = HashMap<Box<str>, HashMap<Box<str>, Vec<I>>>;

/// Ids that may match: the intersection of the postings of every matcher that does not
/// match the empty string (or a superset of it), or `all()` when there is none. The
/// caller still checks every matcher on each candidate's labels (matchers that match ""
/// select series without the label too).
pub fn candidates<I: Copy + Ord>(
    p: &Postings<I>,
    matchers: &[Matcher],
    all: impl FnOnce() -> Vec<I>,
) -> Vec<I> {
    // Per matcher, the postings lists of the values it matches (each sorted).
    let mut sets: Vec<Vec<&[I]>> = Vec::new();
    for m in matchers.iter().filter(|m| !m.matches("")) {
        let Some(values) = p.get(m.name.as_str()) else {
            return Vec::new();
        };
        let lists: Vec<&[I]> = match m.values() {
            // A known few values: look each one up.
            Some(wanted) => wanted
                .iter()
                .filter_map(|v| values.get(v.as_str()))
                .map(Vec::as_slice)
                .collect(),
            None => values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .map(|(_, ids)| ids.as_slice())
                .collect(),
        };
        if lists.is_empty() {
            return Vec::new();
        }
        sets.push(lists);
    }
    if sets.is_empty() {
        let mut v = all();
        v.sort_unstable();
        return v;
    }
    intersect(sets)
}

/// The ids that every set holds (a set: the sorted lists of one matcher's values, any of
/// which counts), or a superset of them (see below).
pub(crate) fn intersect<I: Copy + Ord>(mut sets: Vec<Vec<&[I]>>) -> Vec<I> {
    // Start from the matcher with the fewest ids (a node's, when the mesh model asks for
    // one node) and keep those the others' lists hold: the long lists of a metric name or
    // of an alternation of names are searched, never copied or sorted.
    let total = |ls: &Vec<&[I]>| ls.iter().map(|l| l.len()).sum::<usize>();
    sets.sort_by_key(total);
    let mut it = sets.into_iter();
    let mut acc = union(&it.next().unwrap_or_default());
    for lists in it {
        if acc.is_empty() {
            break;
        }
        // Searching a few lists per candidate is cheaper than merging them. Many lists
        // (a regex over many values, the mesh model's batch of nodes) are merged only when
        // the candidates are many: a few candidates are left to the caller's check of
        // every matcher on their labels.
        if lists.len() <= 8 {
            acc.retain(|r| lists.iter().any(|l| l.binary_search(r).is_ok()));
        } else if acc.len() * 16 >= total(&lists) {
            let u = union(&lists);
            acc.retain(|r| u.binary_search(r).is_ok());
        }
    }
    acc
}

/// The sorted union of sorted lists.
pub(crate) fn union<I: Copy + Ord>(lists: &[&[I]]) -> Vec<I> {
    debug_assert!(lists.iter().all(|l| l.is_sorted()));
    match lists {
        [] => Vec::new(),
        [one] => one.to_vec(),
        _ => {
            let mut ids: Vec<I> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            // Sorted runs, which the stable sort merges (k-way) instead of sorting anew.
            ids.sort();
            ids.dedup();
            ids
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{candidates, Postings};
    use crate::tsdb::labels::{MatchOp, Matcher};

    /// Every matcher set gives, after the callers' check of each candidate, the ids whose
    /// labels a brute-force scan accepts.
    #[test]
    fn candidates_equal_a_brute_force_scan() {
        // 600 series: metric m0..m19, node n0..n29.
        let series: Vec<(String, String)> = (0..600u32)
            .map(|i| (format!("m{}", i % 20), format!("n{}", (i * 7) % 30)))
            .collect();
        let mut p: Postings<u32> = Postings::new();
        for (i, (m, n)) in series.iter().enumerate() {
            for (k, v) in [("__name__", m), ("node", n)] {
                let l = p.entry(k.into()).or_default().entry(v.as_str().into());
                l.or_default().push(i as u32);
            }
        }
        let alt = |pre: &str, k: std::ops::Range<u32>| {
            k.map(|i| format!("{pre}{i}")).collect::<Vec<_>>().join("|")
        };
        let cases: Vec<Vec<Matcher>> = vec![
            vec![Matcher::equal("__name__", "m3")],
            vec![
                Matcher::equal("__name__", "m3"),
                Matcher::equal("node", "n1"),
            ],
            // Few lists searched, many lists merged, a regex over values.
            vec![
                Matcher::new(MatchOp::Regex, "__name__", alt("m", 0..3)).unwrap(),
                Matcher::equal("node", "n4"),
            ],
            vec![
                Matcher::new(MatchOp::Regex, "__name__", alt("m", 0..15)).unwrap(),
                Matcher::new(MatchOp::Regex, "node", alt("n", 2..5)).unwrap(),
            ],
            vec![
                Matcher::new(MatchOp::Regex, "__name__", "m1.*").unwrap(),
                Matcher::new(MatchOp::Regex, "node", alt("n", 0..12)).unwrap(),
            ],
            // A few candidates and many lists: left to the caller's check.
            vec![
                Matcher::new(MatchOp::Regex, "__name__", alt("m", 0..15)).unwrap(),
                Matcher::equal("node", "n4"),
            ],
            vec![
                Matcher::equal("__name__", "m3"),
                Matcher::equal("node", "nx"),
            ],
            vec![Matcher::equal("job", "x")],
        ];
        for ms in cases {
            let mut got = candidates(&p, &ms, || unreachable!());
            // What the callers do: check every matcher on each candidate.
            got.retain(|i| {
                let (m, n) = &series[*i as usize];
                ms.iter().all(|x| match x.name.as_str() {
                    "__name__" => x.matches(m),
                    "node" => x.matches(n),
                    _ => x.matches(""),
                })
            });
            let want: Vec<u32> = (0..600u32)
                .filter(|i| {
                    let (m, n) = &series[*i as usize];
                    ms.iter().all(|x| match x.name.as_str() {
                        "__name__" => x.matches(m),
                        "node" => x.matches(n),
                        _ => x.matches(""),
                    })
                })
                .collect();
            assert_eq!(got, want, "{ms:?}");
        }
    }
}
