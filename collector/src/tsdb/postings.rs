//! The inverted index shared by the head and blocks: label name → value → sorted ids.

use std::collections::HashMap;

use super::labels::Matcher;

pub type Postings<I> = HashMap<Box<str>, HashMap<Box<str>, Vec<I>>>;

/// Ids that may match: the intersection of the postings of every matcher that does not
/// match the empty string, or `all()` when there is none. The caller still checks every
/// matcher on each candidate's labels (matchers that match "" select series without the
/// label too).
pub fn candidates<I: Copy + Ord>(
    p: &Postings<I>,
    matchers: &[Matcher],
    all: impl FnOnce() -> Vec<I>,
) -> Vec<I> {
    let mut sets: Vec<Vec<I>> = Vec::new();
    for m in matchers.iter().filter(|m| !m.matches("")) {
        let mut ids: Vec<I> = match (p.get(m.name.as_str()), m.values()) {
            (None, _) => return Vec::new(),
            // A known few values: look each one up.
            (Some(values), Some(wanted)) => wanted
                .iter()
                .filter_map(|v| values.get(v.as_str()))
                .flat_map(|ids| ids.iter().copied())
                .collect(),
            (Some(values), None) => values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect(),
        };
        ids.sort_unstable();
        ids.dedup();
        sets.push(ids);
    }
    if sets.is_empty() {
        let mut v = all();
        v.sort_unstable();
        return v;
    }
    sets.sort_by_key(|s| s.len());
    let mut it = sets.into_iter();
    let mut acc = it.next().unwrap_or_default();
    for s in it {
        acc.retain(|r| s.binary_search(r).is_ok());
    }
    acc
}
