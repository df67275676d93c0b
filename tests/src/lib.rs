//! The Signpost conformance kit: simulators of the parties around a gateway, SMART client
//! keys and tokens; used by `signpost conformance`, `signpost keygen` and `signpost token`,
//! and by Signpost's own end-to-end tests.

pub mod keys;
pub mod kit;
pub mod process;
pub mod simulators;
pub mod smart;
