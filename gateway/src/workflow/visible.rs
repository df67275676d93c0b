//! Reading a resource as the caller: what it may not see does not exist for it.

use super::WorkflowError;
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal, tenancy};
use crate::store::{Store, StoredResource};

/// The current version if it exists and the caller's organisation is party to it; otherwise
/// `NotFound`, which does not reveal whether it exists (audited as a refusal).
pub async fn visible(
    store: &dyn Store,
    who: &Principal,
    rtype: &str,
    id: &str,
) -> Result<StoredResource, WorkflowError> {
    match store.read(rtype, id).await? {
        Some(r) if tenancy::may_see(who, &r) => Ok(r),
        _ => {
            let target = format!("{rtype}/{id}");
            audit::refusal(
                store,
                Some(who),
                Interaction::Read,
                &target,
                Outcome::Refused(404),
            )
            .await;
            Err(WorkflowError::NotFound(format!("{target} is not known")))
        }
    }
}
