//! Keyholder's identity service: tenants, people, departments, roles and
//! rights, partners and integrators, sign-in and the tokens every other
//! service verifies offline.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod keys;
pub mod metrics;
pub mod migrations;
pub mod store;
pub mod tasks;

pub use error::{Error, StartError};
use tasks::deliverer;

use keyholder_kit::CancellationToken;
use keyholder_kit::auth::{AUDIENCE_IDENTITY, Authenticator};
use keyholder_kit::clock::SharedClock;
use keyholder_kit::config::{Config, ServiceName};
use keyholder_kit::gate::Gate;
use keyholder_kit::serve::DatabaseReady;
use keyholder_kit::serve::{ServeOptions, serve};
use keyholder_proto::identity::v1::identity_service_server::IdentityServiceServer;
use keyholder_proto::identity::v1::standing_service_server::StandingServiceServer;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Fully qualified gRPC name, as health reports it.
pub const SERVICE_NAME: &str = "keyholder.identity.v1.IdentityService";

/// Fully qualified name of the standing feed.
pub const STANDING_SERVICE_NAME: &str = "keyholder.identity.v1.StandingService";

pub use grpc::PUBLIC_METHODS;

/// A prepared identity service: migrated, bootstrapped, ready to serve.
#[derive(Debug)]
pub struct Identity {
    api: grpc::Api,
    feed: grpc::standing::StandingFeed,
    gate: Gate,
    deliverer: deliverer::Deliverer,
    grace: std::time::Duration,
    /// How long answers to retry-safe calls are kept.
    request_id_retention: chrono::Duration,
    metrics: Arc<keyholder_kit::metrics::Metrics>,
    metrics_listen: Option<std::net::SocketAddr>,
    tls: keyholder_kit::tls::TlsConfig,
}

/// Drives identity's background work directly (tests call these instead of
/// waiting for the background deliverer).
#[derive(Debug, Clone)]
pub struct IdentityHandle {
    deliverer: deliverer::Deliverer,
}

impl IdentityHandle {
    /// Sends one batch of waiting events to audit now; how many were accepted.
    pub async fn deliver_once(&self) -> Result<usize, Error> {
        self.deliverer.deliver_once().await
    }

    /// Events in the outbox not yet accepted by audit.
    pub async fn undelivered_events(&self) -> Result<u64, Error> {
        self.deliverer.undelivered().await
    }

    /// Events set aside because audit refused them as invalid (or they do
    /// not decode): (event id, reason), oldest first.
    pub async fn rejected_events(&self) -> Result<Vec<(String, String)>, Error> {
        self.deliverer.rejected().await
    }

    /// A second relay of the outbox, as another replica would run it,
    /// timed by `clock` with `options` (tests of leases, backoff, pruning).
    pub fn outbox_replica(
        &self,
        clock: SharedClock,
        options: keyholder_kit::outbox::RelayOptions,
    ) -> deliverer::Deliverer {
        self.deliverer.replica(clock, options)
    }
}

impl Identity {
    /// Connects, migrates and bootstraps; returns once ready to serve.
    pub async fn prepare(config: &Config, clock: SharedClock) -> Result<Self, StartError> {
        let settings = config::Settings::of(config);
        let url = config.database_url(ServiceName::Identity);
        let kek = keyholder_kit::kek::KekRing::from_config(config)?;
        let db =
            keyholder_kit::db::open::<migrations::Migrator>(&url, config.migrate_on_start).await?;
        let store = store::Store::new(db, kek, clock.clone());
        // Databases of an earlier version hold plaintext; a rotated ring
        // leaves values under an older KEK: both are sealed anew here.
        store.reseal_secrets().await?;
        let keys = Arc::new(keys::KeyRing::new(store.clone(), clock.clone()));
        keys.ensure_key().await?;
        bootstrap::run(&store, config, clock.now()).await?;
        let gate = Gate::new(
            // Token windows are judged by the injected clock, the one
            // identity issues tokens by (tests share one manual clock).
            Authenticator::new(keys.clone(), AUDIENCE_IDENTITY, clock.clone()),
            Arc::new(grpc::standing::DatabaseStanding::new(store.clone())),
            PUBLIC_METHODS,
        );
        let audit = keyholder_kit::client::channel(&config.audit.url, &config.tls)?;
        let deliverer = deliverer::Deliverer::new(
            store.clone(),
            keys.clone(),
            clock.clone(),
            audit,
            settings.outbox,
        );
        Ok(Self {
            feed: grpc::standing::StandingFeed::new(store.clone(), settings.standing_poll),
            request_id_retention: settings.request_id_retention,
            api: grpc::Api::new(store, keys, clock),
            gate,
            deliverer,
            grace: settings.grace,
            metrics: keyholder_kit::metrics::Metrics::new("identity"),
            metrics_listen: settings.metrics_listen,
            tls: config.tls.clone(),
        })
    }

    /// A handle for tests and tools.
    pub fn handle(&self) -> IdentityHandle {
        IdentityHandle {
            deliverer: self.deliverer.clone(),
        }
    }

    /// Starts the outbox deliverer and serves on `listener` until
    /// `shutdown` is cancelled.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), StartError> {
        let delivering = tokio::spawn(self.deliverer.run(shutdown.clone()));
        tokio::spawn(self.api.request_ledger().clone().prune_until(
            self.request_id_retention,
            keyholder_kit::idempotency::PRUNE_EVERY,
            shutdown.clone(),
        ));
        let db = self.api.store.db().clone();
        if self.metrics_listen.is_some() {
            tokio::spawn(keyholder_kit::metrics::refresh_sql_gauges(
                db.clone(),
                metrics::gauges(&self.metrics),
                shutdown.clone(),
            ));
        }
        let mut routes = tonic::service::Routes::builder();
        routes.add_service(
            IdentityServiceServer::new(self.api)
                .max_decoding_message_size(keyholder_kit::transport_status::MAX_REQUEST_BYTES),
        );
        routes.add_service(
            StandingServiceServer::new(self.feed.stopping_on(shutdown.clone()))
                .max_decoding_message_size(keyholder_kit::transport_status::MAX_REQUEST_BYTES),
        );
        let served = serve(
            listener,
            routes.routes(),
            ServeOptions {
                health_names: vec![SERVICE_NAME, STANDING_SERVICE_NAME],
                grace: self.grace,
                gate: self.gate,
                readiness: vec![Arc::new(DatabaseReady(db))],
                metrics: self.metrics,
                metrics_listen: self.metrics_listen,
                tls: self.tls,
            },
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        let _ = delivering.await;
        served?;
        Ok(())
    }
}
