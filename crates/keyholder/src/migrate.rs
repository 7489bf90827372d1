//! `keyholder migrate`: bring each service's schema up to date and exit.
//! On Kubernetes an init container runs it before the service starts (with
//! `KEYHOLDER_MIGRATE_ON_START=false` on the service), and PostgreSQL's
//! advisory lock (see `keyholder_kit::db::migrate`) makes replicas starting
//! together take turns.

use anyhow::Context;
use clap::ValueEnum;
use keyholder_kit::config::{Config, ServiceName};
use keyholder_kit::db::migrate;

/// A service whose database to migrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    /// Identity's database.
    Identity,
    /// The broker's database.
    Broker,
    /// Audit's database.
    Audit,
}

impl Service {
    fn name(self) -> ServiceName {
        match self {
            Self::Identity => ServiceName::Identity,
            Self::Broker => ServiceName::Broker,
            Self::Audit => ServiceName::Audit,
        }
    }
}

/// Migrates `services` (all three when empty), printing what each ran.
pub async fn run(config: &Config, services: &[Service]) -> anyhow::Result<()> {
    let all = [Service::Identity, Service::Broker, Service::Audit];
    let chosen = if services.is_empty() {
        &all[..]
    } else {
        services
    };
    for service in chosen {
        let name = service.name();
        let db = keyholder_kit::db::connect(&config.database_url(name))
            .await
            .with_context(|| format!("{} database", name.as_str()))?;
        let ran = match service {
            Service::Identity => migrate::<keyholder_identity::migrations::Migrator>(&db).await,
            Service::Broker => migrate::<keyholder_broker::migrations::Migrator>(&db).await,
            Service::Audit => migrate::<keyholder_audit::migrations::Migrator>(&db).await,
        }
        .with_context(|| format!("migrating {}'s database", name.as_str()))?;
        let _ = db.close().await;
        println!("{}: applied={ran} up_to_date=true", name.as_str());
    }
    Ok(())
}
