//! The sandbox's demo console accounts, one per console role, each with a password generated on
//! first start and kept in the data directory (readable by its owner only), so the printed guide
//! can give a working sign-in every time the sandbox starts.

use std::path::Path;

use crate::console::account::ConsoleRole;
use crate::console::password;
use crate::store::{AccountRecord, Store};

/// The file, in the data directory, holding the demo accounts' passwords.
pub const FILE: &str = "demo-accounts.txt";

/// One demo sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    /// Its console role.
    pub role: ConsoleRole,
    /// The organisation it acts for.
    pub organisation: &'static str,
    /// Its name, as audited.
    pub name: &'static str,
    /// What it signs in with.
    pub email: &'static str,
    /// Its password.
    pub password: String,
}

/// (role, organisation, name, email) of each demo account.
const ACCOUNTS: &[(ConsoleRole, &str, &str, &str)] = &[
    (
        ConsoleRole::Vcs,
        "VCS001",
        "Val Volunteer",
        "volunteer@mill-lane.example",
    ),
    (
        ConsoleRole::LinkWorker,
        "LWS001",
        "Lee Link-Worker",
        "link-worker@riverside-sp.example",
    ),
    (
        ConsoleRole::Operator,
        "LWS001",
        "Oona Operator",
        "operator@signpost.example",
    ),
];

/// The demo accounts with their passwords: as kept in `data`, or new ones written there.
pub fn prepare(data: &Path) -> std::io::Result<Vec<DemoAccount>> {
    let file = data.join(FILE);
    let kept = std::fs::read_to_string(&file).unwrap_or_default();
    let kept_password = |email: &str| {
        kept.lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(e, _)| *e == email)
            .map(|(_, p)| p.trim().to_owned())
            .filter(|p| !p.is_empty())
    };
    let accounts: Vec<DemoAccount> = ACCOUNTS
        .iter()
        .map(|&(role, organisation, name, email)| DemoAccount {
            role,
            organisation,
            name,
            email,
            password: kept_password(email).unwrap_or_else(crate::console::random_token),
        })
        .collect();
    let text: String = accounts
        .iter()
        .map(|a| format!("{} {}\n", a.email, a.password))
        .collect();
    if text != kept {
        crate::auth::write_private(&file, &text)?;
    }
    Ok(accounts)
}

/// Creates the demo accounts the store lacks; existing ones keep their passwords.
pub async fn seed(store: &dyn Store, accounts: &[DemoAccount]) -> anyhow::Result<()> {
    for account in accounts {
        if store.account_by_email(account.email).await?.is_some() {
            continue;
        }
        let hash = password::hash(&account.password)?;
        store
            .add_account(&AccountRecord {
                id: uuid::Uuid::new_v4().to_string(),
                organisation: account.organisation.to_owned(),
                role: account.role.code().to_owned(),
                name: account.name.to_owned(),
                email: account.email.to_owned(),
                password_hash: Some(hash),
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_generated_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = prepare(dir.path()).expect("prepare");
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|a| a.password.len() >= 20), "{first:?}");
        assert_ne!(first[0].password, first[1].password);
        assert_eq!(prepare(dir.path()).expect("again"), first);
    }
}
