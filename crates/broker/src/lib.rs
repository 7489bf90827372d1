//! Keyholder's access-grant broker: the support-access lifecycle from a
//! tenant's mode through requests, decisions, grants, one-time credentials and
//! support sessions to CheckAccess and every way access ends.

#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
mod grpc;
pub mod helpdesk;
pub mod identity;
pub mod metrics;
pub mod migrations;
pub mod session_token;
pub mod store;
pub mod tasks;

use crate::cache::AccessCache;
use crate::identity::IdentityClient;
use crate::session_token::{SessionClaims, SessionKeys};
use crate::store::Store;
pub use error::{Error, StartError};
use keyholder_kit::CancellationToken;
use keyholder_kit::auth::{AUDIENCE_BROKER, Authenticator};
use keyholder_kit::client::{RemoteKeySet, channel};
use keyholder_kit::clock::SharedClock;
use keyholder_kit::config::{Config, ServiceName};
use keyholder_kit::gate::Gate;
use keyholder_kit::standing::{CredentialsFileToken, StandingTable};
use keyholder_kit::token_cache::VerifiedTokens;
use keyholder_proto::broker::v1::broker_service_server::BrokerServiceServer;
use std::sync::Arc;
pub use tasks::sweeper::SweepReport;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Methods that check their own credential (a support session's refresh or
/// session token) rather than an identity access token.
pub const PUBLIC_METHODS: &[&str] = &[
    "/keyholder.broker.v1.BrokerService/RefreshSupportSession",
    "/keyholder.broker.v1.BrokerService/SignOutOfTenant",
];

/// Everything a handler needs.
pub(crate) struct Core {
    pub store: Store,
    pub clock: SharedClock,
    pub identity: Arc<IdentityClient>,
    pub keys: SessionKeys,
    /// Seals and opens stored secrets (helpdesk and webhook secrets).
    pub kek: keyholder_kit::kek::KekRing,
    /// People's and service accounts' live standing, followed from identity.
    pub standing: Arc<StandingTable>,
    /// Session tokens already verified.
    pub session_tokens: VerifiedTokens<SessionClaims>,
}

impl Core {
    /// Now by the injected clock, at stored precision (microseconds).
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        store::at_stored_precision(self.clock.now())
    }
}

/// The broker service, prepared and ready to serve.
pub struct Broker {
    core: Arc<Core>,
    config: Config,
    settings: config::Settings,
    gate: Gate,
    identity_channel: keyholder_kit::client::Channel,
    metrics: Arc<keyholder_kit::metrics::Metrics>,
}

/// A handle for driving the broker's periodic work directly (tests move a
/// ManualClock and call these instead of waiting).
#[derive(Clone)]
pub struct BrokerHandle {
    store: Store,
    clock: SharedClock,
    ending_notice: chrono::Duration,
    identity: Arc<IdentityClient>,
    config: Config,
}

impl BrokerHandle {
    /// Runs one expiry sweep now.
    pub async fn sweep_once(&self) -> Result<SweepReport, Error> {
        tasks::sweeper::sweep_once(&self.store, &self.clock, self.ending_notice).await
    }

    /// Forgets webhook deliveries settled more than 30 days ago (the
    /// deliverer does it every 10 minutes); returns how many.
    pub async fn prune_webhook_deliveries(&self) -> Result<u64, Error> {
        helpdesk::outbound::prune(&self.store, &self.clock).await
    }

    /// A second relay of the outbox to audit, as another broker would run
    /// it, timed by `clock` with `options` (tests of leases, backoff, pruning).
    pub fn outbox_replica(
        &self,
        clock: SharedClock,
        options: keyholder_kit::outbox::RelayOptions,
    ) -> Result<tasks::deliverer::Deliverer, keyholder_kit::client::ClientError> {
        let audit = channel(&self.config.audit.url, &self.config.tls)?;
        Ok(tasks::deliverer::relay(
            &self.store,
            self.identity.clone(),
            audit,
            clock,
            options,
        ))
    }

    /// Events waiting in the outbox.
    pub async fn undelivered_events(&self) -> Result<u64, Error> {
        Ok(store::outbox::undelivered_count(self.store.db()).await?)
    }

    /// Events audit refused as invalid and that were set aside: their ids
    /// with audit's reason, oldest first.
    pub async fn rejected_events(&self) -> Result<Vec<(String, String)>, Error> {
        Ok(store::outbox::rejected(self.store.db()).await?)
    }
}

impl Broker {
    /// Connects, migrates and loads (or makes) the session signing key.
    pub async fn prepare(config: &Config, clock: SharedClock) -> Result<Self, StartError> {
        let settings = config::Settings::of(config);
        let db = keyholder_kit::db::open::<migrations::Migrator>(
            &config.database_url(ServiceName::Broker),
            config.migrate_on_start,
        )
        .await?;
        let cache = Arc::new(AccessCache::new(
            settings.session_cache,
            settings.session_cache_capacity,
        ));
        let store = Store::new(db.clone(), cache, Arc::new(Notify::new()));
        let kek = keyholder_kit::kek::KekRing::from_config(config)?;
        let keys = SessionKeys::load_or_create(&db, &kek, clock.now()).await?;
        let identity_channel = channel(&config.identity.url, &config.tls)?;
        let auth = Authenticator::new(
            Arc::new(RemoteKeySet::new(identity_channel.clone())),
            AUDIENCE_BROKER,
            // The injected clock: the one identity issues tokens by.
            clock.clone(),
        );
        let identity = Arc::new(IdentityClient::new(
            identity_channel.clone(),
            config.credentials_file(ServiceName::Broker),
            clock.clone(),
        ));
        let standing = Arc::new(StandingTable::new(settings.standing_max_staleness));
        let gate = Gate::new(auth, standing.clone(), PUBLIC_METHODS);
        let core = Core {
            store,
            clock,
            identity,
            keys,
            kek,
            standing,
            session_tokens: VerifiedTokens::new(100_000),
        };
        Ok(Self {
            core: Arc::new(core),
            config: config.clone(),
            settings,
            gate,
            identity_channel,
            metrics: keyholder_kit::metrics::Metrics::new("broker"),
        })
    }

    /// A handle for tests and tools.
    pub fn handle(&self) -> BrokerHandle {
        BrokerHandle {
            store: self.core.store.clone(),
            clock: self.core.clock.clone(),
            ending_notice: self.settings.grant_ending_notice,
            identity: self.core.identity.clone(),
            config: self.config.clone(),
        }
    }

    /// Starts the background tasks (sweeper, outbox deliverer, invalidation
    /// listener) and serves until `shutdown` is cancelled; helpdesk webhooks
    /// too when `broker.webhook_listen` is set.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), StartError> {
        let webhooks = match self.settings.webhook_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::WebhookListen { addr, source })?,
            ),
            None => None,
        };
        self.serve_with_webhooks(listener, webhooks, shutdown).await
    }

    /// [`Broker::serve`] with the webhook listener given (tests bind port 0).
    /// The webhook port serves plain HTTP on whatever listener it is handed.
    pub async fn serve_with_webhooks(
        self,
        listener: TcpListener,
        webhooks: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> Result<(), StartError> {
        let core = self.core.clone();
        let mut tasks = tokio_util_tasks(&core, &self.config, &self.settings, &shutdown)?;
        tasks.push(tokio::spawn(keyholder_kit::standing::follow(
            core.standing.clone(),
            self.identity_channel.clone(),
            Arc::new(CredentialsFileToken::new(
                self.identity_channel.clone(),
                self.config.credentials_file(ServiceName::Broker),
                core.clock.clone(),
            )),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(helpdesk::outbound::run(
            core.store.clone(),
            core.kek.clone(),
            core.clock.clone(),
            shutdown.clone(),
        )));
        if let Some(l) = webhooks {
            let (core, stop) = (core.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = helpdesk::http::serve(l, core, stop).await {
                    tracing::error!(error = %e, "the helpdesk webhook listener stopped");
                }
            }));
        }
        tasks.push(tokio::spawn(tasks::dismissals::run(
            core.store.clone(),
            core.standing.subscribe(),
            core.clock.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(
            core.store.request_ledger(core.clock.clone()).prune_until(
                self.settings.request_id_retention,
                keyholder_kit::idempotency::PRUNE_EVERY,
                shutdown.clone(),
            ),
        ));
        if self.settings.metrics_listen.is_some() {
            tokio::spawn(keyholder_kit::metrics::follow_standing_age(
                self.metrics.clone(),
                core.standing.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(keyholder_kit::metrics::refresh_sql_gauges(
                core.store.db().clone(),
                metrics::gauges(&self.metrics),
                shutdown.clone(),
            ));
        }
        let routes = tonic::service::Routes::new(
            BrokerServiceServer::new(grpc::BrokerApi::new(core.clone()))
                .max_decoding_message_size(keyholder_kit::transport_status::MAX_REQUEST_BYTES),
        );
        let result = keyholder_kit::serve::serve(
            listener,
            routes,
            keyholder_kit::serve::ServeOptions {
                health_names: vec!["keyholder.broker.v1.BrokerService"],
                grace: self.settings.grace,
                gate: self.gate,
                readiness: vec![
                    Arc::new(keyholder_kit::serve::DatabaseReady(core.store.db().clone())),
                    core.standing.clone(),
                ],
                metrics: self.metrics.clone(),
                metrics_listen: self.settings.metrics_listen,
                tls: self.config.tls.clone(),
            },
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        for t in tasks {
            let _ = t.await;
        }
        Ok(result?)
    }
}

fn tokio_util_tasks(
    core: &Arc<Core>,
    config: &Config,
    settings: &config::Settings,
    shutdown: &CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StartError> {
    let audit = channel(&config.audit.url, &config.tls)?;
    Ok(vec![
        tokio::spawn(tasks::sweeper::run(
            core.store.clone(),
            core.clock.clone(),
            settings.grant_ending_notice,
            settings.sweep_every,
            shutdown.clone(),
        )),
        tokio::spawn(tasks::deliverer::run(
            core.store.clone(),
            core.identity.clone(),
            audit,
            settings.outbox,
            shutdown.clone(),
        )),
        tokio::spawn(tasks::invalidation::run(
            core.store.clone(),
            settings.revocation_poll,
            shutdown.clone(),
        )),
    ])
}
