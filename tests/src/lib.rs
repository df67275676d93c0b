//! The Signpost conformance kit: simulators of the parties around a gateway, used by
//! `signpost conformance` and by Signpost's own end-to-end tests.

pub mod simulators;
