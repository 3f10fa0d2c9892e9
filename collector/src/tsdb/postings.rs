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
    use std::borrow::Cow;
    let mut sets: Vec<Cow<'_, [I]>> = Vec::new();
    for m in matchers.iter().filter(|m| !m.matches("")) {
        let Some(values) = p.get(m.name.as_str()) else {
            return Vec::new();
        };
        let lists: Vec<&Vec<I>> = match m.values() {
            // A known few values: look each one up.
            Some(wanted) => wanted
                .iter()
                .filter_map(|v| values.get(v.as_str()))
                .collect(),
            None => values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .map(|(_, ids)| ids)
                .collect(),
        };
        // One list is used as it is (a metric name's postings, often the longest);
        // several are merged.
        let set: Cow<'_, [I]> = match lists.as_slice() {
            [] => return Vec::new(),
            [one] if one.is_sorted() => Cow::Borrowed(one.as_slice()),
            _ => {
                let mut ids: Vec<I> = lists.iter().flat_map(|l| l.iter().copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                Cow::Owned(ids)
            }
        };
        sets.push(set);
    }
    if sets.is_empty() {
        let mut v = all();
        v.sort_unstable();
        return v;
    }
    sets.sort_by_key(|s| s.len());
    let mut it = sets.into_iter();
    let mut acc = it.next().map(Cow::into_owned).unwrap_or_default();
    for s in it {
        acc.retain(|r| s.binary_search(r).is_ok());
    }
    acc
}
