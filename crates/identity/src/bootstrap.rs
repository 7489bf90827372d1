//! First start: the operator, the broker's and audit's service accounts, and
//! their credential files. A file that exists already is reused (its secret
//! becomes the account's) and never overwritten, so a re-created database
//! still matches the credentials people hold.

use crate::domain::directory::ServiceAccount;
use crate::domain::people::NewUser;
use crate::domain::{password, random};
use crate::error::StartError;
use crate::events;
use crate::store::Store;
use chrono::{DateTime, Utc};
use keyholder_kit::config::{Config, ServiceName};
use keyholder_kit::credentials::{self, OperatorCredentials, ServiceCredentials};
use std::path::Path;

/// The operator's sign-in e-mail.
pub const OPERATOR_EMAIL: &str = "operator@keyholder.local";

/// Scopes of the broker's service account.
pub const BROKER_SCOPES: &[&str] = &[
    "identity.roles.read",
    "identity.contacts.read",
    "identity.users.read",
    "identity.authorize",
    "identity.standing.watch",
    "audit.events.write",
];
/// Scopes of audit's service account.
pub const AUDIT_SCOPES: &[&str] = &[
    "identity.contacts.read",
    "identity.users.read",
    "identity.standing.watch",
];

/// Creates what a first start needs; does nothing once it exists.
pub async fn run(store: &Store, config: &Config, now: DateTime<Utc>) -> Result<(), StartError> {
    ensure_identity_account(store, now).await?;
    for (svc, scopes) in [
        (ServiceName::Broker, BROKER_SCOPES),
        (ServiceName::Audit, AUDIT_SCOPES),
    ] {
        // Installations bootstrapped by an older release get the scopes
        // added since (the standing feed's, for one).
        store
            .ensure_builtin_scopes(svc.as_str(), &scopes.join(" "))
            .await
            .map_err(crate::error::Error::from)?;
    }
    if store
        .operator_exists()
        .await
        .map_err(crate::error::Error::from)?
    {
        return Ok(());
    }
    let path = config.operator_credentials_file();
    let creds = match existing::<OperatorCredentials>(&path)? {
        Some(c) => c,
        None => {
            let c = OperatorCredentials {
                email: OPERATOR_EMAIL.into(),
                password: random::secret(18)?,
            };
            credentials::write(&path, &c)?;
            c
        }
    };
    let operator = NewUser {
        email: creds.email.to_lowercase(),
        display_name: "Operator".into(),
        password_hash: password::hash(&creds.password).await?,
    }
    .operator(now);
    store
        .insert_user(&operator, &[], &[])
        .await
        .map_err(crate::error::Error::from)?;
    tracing::info!(path = %path.display(), "operator credentials are in this file");
    for (svc, scopes) in [
        (ServiceName::Broker, BROKER_SCOPES),
        (ServiceName::Audit, AUDIT_SCOPES),
    ] {
        let path = config.credentials_file(svc);
        let creds = match existing::<ServiceCredentials>(&path)? {
            Some(c) => c,
            None => {
                let c = ServiceCredentials {
                    client_id: format!("{}-{}", svc.as_str(), random::id()),
                    client_secret: random::secret(32)?,
                };
                credentials::write(&path, &c)?;
                c
            }
        };
        store
            .insert_service_account(&ServiceAccount {
                client_id: creds.client_id.clone(),
                name: svc.as_str().into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                secret_hash: crate::grpc::secret_hash(&creds.client_secret),
                created_at: now,
            })
            .await
            .map_err(crate::error::Error::from)?;
        tracing::info!(service = svc.as_str(), path = %path.display(), "service-account credentials are in this file");
    }
    Ok(())
}

/// Identity's own service account, which delivers its events to audit.
/// Identity signs that account's tokens itself, so nobody holds a secret for
/// it: the stored hash is of a random value thrown away at once. Made on any
/// start where it is missing (also for databases bootstrapped before it);
/// `ON CONFLICT DO NOTHING`, so replicas starting together both succeed.
async fn ensure_identity_account(store: &Store, now: DateTime<Utc>) -> Result<(), StartError> {
    store
        .insert_service_account_if_absent(&ServiceAccount {
            client_id: events::SERVICE_ACCOUNT_ID.into(),
            name: ServiceName::Identity.as_str().into(),
            scopes: vec![events::AUDIT_WRITE_SCOPE.into()],
            secret_hash: crate::grpc::secret_hash(&random::secret(32)?),
            created_at: now,
        })
        .await
        .map_err(crate::error::Error::from)?;
    Ok(())
}

fn existing<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> Result<Option<T>, StartError> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(credentials::read(path)?))
}
