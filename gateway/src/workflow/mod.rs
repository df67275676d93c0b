//! What happens to a referral: the resources and deliveries each step produces.

pub mod referral;
