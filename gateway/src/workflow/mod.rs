//! What happens to a referral: the commands that change it, and the resources and deliveries each
//! step produces. Nothing here knows of HTTP.

pub mod cancel_referral;
mod error;
pub mod issues;
pub mod outcomes;
pub mod parties;
pub mod process_message;
pub mod propagation;
pub mod referral;
mod services;
pub mod submit_referral;
pub mod task_status;
pub mod task_update;
pub mod update_task;
pub mod visible;

pub use error::WorkflowError;
pub use services::Services;
