//! What happens to a referral: the commands that change it, and the resources and deliveries each
//! step produces. Nothing here knows of HTTP.

pub mod audit_trail;
pub mod cancel_referral;
pub mod capacity_feedback;
pub mod dead_letters;
pub mod declare_capacity;
pub mod directory_sync;
mod error;
pub mod import_directory;
pub mod issues;
pub mod nearby_services;
pub mod outcomes;
pub mod parties;
pub mod person_declined;
pub mod postcode_position;
pub mod process_message;
pub mod propagation;
pub mod referral;
pub mod reports;
pub mod routing_decision;
pub mod search;
pub mod service_target;
mod services;
pub mod submit_referral;
pub mod task_status;
pub mod task_update;
pub mod timeline;
pub mod unmet_demand;
pub mod update_task;
pub mod visible;
pub mod worklist;

pub use error::WorkflowError;
pub use services::Services;
