//! Keyholder's identity service: tenants, people, departments, roles and
//! rights, partners and integrators, sign-in and the tokens every other
//! service verifies offline.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod keys;
pub mod migrations;
pub mod store;

pub use error::{Error, StartError};

use keyholder_kit::CancellationToken;
use keyholder_kit::auth::Authenticator;
use keyholder_kit::clock::SharedClock;
use keyholder_kit::config::{Config, ServiceName};
use keyholder_kit::serve::{ServeOptions, serve};
use keyholder_proto::identity::v1::identity_service_server::IdentityServiceServer;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Fully qualified gRPC name, as health reports it.
pub const SERVICE_NAME: &str = "keyholder.identity.v1.IdentityService";

/// A prepared identity service: migrated, bootstrapped, ready to serve.
#[derive(Debug)]
pub struct Identity {
    api: grpc::Api,
    grace: std::time::Duration,
}

impl Identity {
    /// Connects, migrates and bootstraps; returns once ready to serve.
    pub async fn prepare(config: &Config, clock: SharedClock) -> Result<Self, StartError> {
        let url = config.database_url(ServiceName::Identity);
        let db = keyholder_kit::db::open::<migrations::Migrator>(&url).await?;
        let store = store::Store::new(db);
        let keys = Arc::new(keys::KeyRing::new(store.clone(), clock.clone()));
        keys.ensure_key().await?;
        bootstrap::run(&store, config, clock.now().timestamp()).await?;
        let auth = Authenticator::new(keys.clone());
        Ok(Self {
            api: grpc::Api::new(store, keys, auth, clock),
            grace: config.shutdown_grace(),
        })
    }

    /// Serves on `listener` until `shutdown` is cancelled.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), StartError> {
        let mut routes = tonic::service::Routes::builder();
        routes.add_service(IdentityServiceServer::new(self.api));
        serve(
            listener,
            routes.routes(),
            ServeOptions {
                health_names: vec![SERVICE_NAME],
                grace: self.grace,
            },
            shutdown,
        )
        .await?;
        Ok(())
    }
}
