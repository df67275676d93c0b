//! What happens to a referral: the resources and deliveries each step produces.

pub mod outcomes;
pub mod propagation;
pub mod referral;
pub mod task_status;
pub mod task_update;
