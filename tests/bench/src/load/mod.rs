//! Load generators: a fixed offered rate (latency) and a fixed concurrency (throughput), both
//! bounded in count and time so every run stops by itself.

mod closed;
mod open;
mod target;

pub use closed::closed_loop;
pub use open::open_loop;
pub use target::{Endpoint, Sample, Target};
