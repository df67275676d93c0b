//! The delivery engine: takes due outbox rows and hands them to each partner's adapter.

mod backoff;
mod worker;

pub use backoff::Backoff;
pub use worker::DeliveryWorker;
