//! The delivery engine: takes due outbox rows and hands them to each partner's adapter.

mod backoff;
mod breaker;
mod worker;

pub use backoff::Backoff;
pub use breaker::{BreakerState, Breakers};
pub use worker::DeliveryWorker;
