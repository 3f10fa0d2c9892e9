//! The embedded time-series store: an in-memory head of XOR chunks with postings, a
//! checksummed write-ahead log, immutable compressed blocks on disk, compaction and
//! retention. Readers use the [`Queryable`] trait.

pub mod block;
mod block_index;
pub mod chunk;
pub mod db;
pub mod head;
mod head_chunks;
pub mod labels;
mod postings;
pub mod query;
pub mod series_codec;
pub mod tools;
pub mod wal;

pub use db::{Appender, CommitStats, Db, DbError, Options};
pub use labels::{Labels, MatchOp, Matcher};
pub use query::{Queryable, SeriesChunks};
