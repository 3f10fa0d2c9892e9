//! What the store hands to readers: series with their encoded chunks, decoded lazily.

use std::sync::Arc;

use super::chunk::XorIter;
use super::labels::{Labels, Matcher};

/// One encoded chunk with its time range.
#[derive(Clone, Debug)]
pub struct ChunkData {
    pub min_t: i64,
    pub max_t: i64,
    pub data: Arc<[u8]>,
}

impl ChunkData {
    /// Samples (in time order) as XOR chunks of at most 120 samples.
    pub fn encode(samples: &[(i64, f64)]) -> Vec<ChunkData> {
        let n = usize::from(super::chunk::SAMPLES_PER_CHUNK);
        let mut out = Vec::with_capacity(samples.len().div_ceil(n));
        for part in samples.chunks(n) {
            let mut a = super::chunk::XorAppender::default();
            for &(t, v) in part {
                a.append(t, v);
            }
            out.push(ChunkData {
                min_t: a.min_time(),
                max_t: a.max_time(),
                data: a.bytes().into(),
            });
        }
        out
    }
}

/// A series and its chunks, from the head and/or blocks.
#[derive(Clone, Debug)]
pub struct SeriesChunks {
    pub labels: Labels,
    pub chunks: Vec<ChunkData>,
}

impl SeriesChunks {
    /// Samples in `[mint, maxt]` in time order. Chunks that overlap (blocks imported over
    /// existing data) are merged; for equal timestamps the first source wins.
    pub fn samples(&self, mint: i64, maxt: i64) -> Box<dyn Iterator<Item = (i64, f64)> + '_> {
        let mut chunks: Vec<&ChunkData> = self
            .chunks
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .collect();
        chunks.sort_by_key(|c| c.min_t);
        let overlapping = chunks.windows(2).any(|w| w[1].min_t <= w[0].max_t);
        if !overlapping {
            return Box::new(
                chunks
                    .into_iter()
                    .flat_map(|c| XorIter::new(&c.data))
                    .filter(move |(t, _)| *t >= mint && *t <= maxt),
            );
        }
        let mut all: Vec<(i64, f64)> = chunks
            .iter()
            .flat_map(|c| XorIter::new(&c.data))
            .filter(|(t, _)| *t >= mint && *t <= maxt)
            .collect();
        all.sort_by_key(|s| s.0);
        all.dedup_by_key(|s| s.0);
        Box::new(all.into_iter())
    }
}

/// The read side of the store, which the query engine evaluates over.
pub trait Queryable: Send + Sync {
    /// Series matching every matcher, with chunks overlapping `[mint, maxt]`, sorted by
    /// labels.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks>;
    /// Label sets of matching series with data in `[mint, maxt]`, sorted.
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels>;
    /// Sorted label names of matching series (all series when `matchers` is empty).
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String>;
    /// Sorted values of one label over matching series.
    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String>;
}
