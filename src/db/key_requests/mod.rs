//! The request log: recent verifications of each key, one row per refused request and
//! one per key, address and minute for accepted ones; written in the usage flush's
//! batches, read a page at a time, pruned by the sweep.

mod read;
mod row;
mod write;

pub use read::*;
pub use row::*;
pub use write::*;
