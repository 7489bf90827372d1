//! Keyholder's audit service: the append-only, tamper-evident record of every
//! support entry and action, the tenant's queries over it, and the
//! notification outbox that e-mails the people who must know.

#![forbid(unsafe_code)]

pub mod config;
pub mod contacts;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod ledger;
pub mod mail;
pub mod metrics;
pub mod migrations;
pub mod store;
pub mod tasks;
pub mod witness;

pub use error::{Error, StartError};

use crate::contacts::{ContactSource, IdentityContacts};
use crate::grpc::AuditApi;
use crate::ledger::{CheckpointPolicy, Ledger};
use crate::mail::owner::MailOwner;
use crate::mail::worker::MailWorker;
use crate::store::Store;
use crate::tasks::AbortOnDrop;
use crate::tasks::checkpoints::checkpoint_loop;
use crate::tasks::mail::mail_loop;
use keyholder_kit::CancellationToken;
use keyholder_kit::auth::{AUDIENCE_AUDIT, Authenticator};
use keyholder_kit::client::{RemoteKeySet, channel};
use keyholder_kit::clock::SharedClock;
use keyholder_kit::config::{Config, ServiceName};
use keyholder_kit::gate::Gate;
use keyholder_kit::serve::DatabaseReady;
use keyholder_kit::serve::{ServeOptions, serve};
use keyholder_kit::standing::{CredentialsFileToken, StandingTable};
use keyholder_proto::audit::v1::audit_service_server::AuditServiceServer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Knobs for embedding (tests); `Default` is what `keyholder` runs.
#[derive(Clone, Default)]
pub struct AuditOptions {
    /// Do not run the mailer in the background: the caller drives
    /// [`MailWorker::deliver_once`] itself.
    pub manual_mail: bool,
    /// Use this transport instead of the configured one.
    pub mailer: Option<Arc<dyn mail::Mailer>>,
    /// Use this contact source instead of identity.
    pub contacts: Option<Arc<dyn ContactSource>>,
    /// Sign checkpoints into the database only, without the witness (for
    /// measuring what the witness costs; never what `keyholder` runs).
    pub witness_off: bool,
}

/// The audit service, prepared and ready to serve.
pub struct Audit {
    api: AuditApi,
    worker: MailWorker,
    mail_owner: MailOwner,
    options: AuditOptions,
    grace: Duration,
    /// How often the mailer looks for due e-mails when nothing woke it.
    mail_poll: Duration,
    gate: Gate,
    standing: Arc<StandingTable>,
    identity_channel: keyholder_kit::client::Channel,
    standing_token: Arc<CredentialsFileToken>,
    metrics: Arc<keyholder_kit::metrics::Metrics>,
    metrics_listen: Option<std::net::SocketAddr>,
    tls: keyholder_kit::tls::TlsConfig,
}

impl Audit {
    /// Connects and migrates the database and loads the signing key.
    pub async fn prepare(config: &Config, clock: SharedClock) -> Result<Self, StartError> {
        Self::prepare_with(config, clock, AuditOptions::default()).await
    }

    /// [`Audit::prepare`] with embedding options.
    pub async fn prepare_with(
        config: &Config,
        clock: SharedClock,
        options: AuditOptions,
    ) -> Result<Self, StartError> {
        let settings = config::Settings::of(config);
        let db = keyholder_kit::db::open::<migrations::Migrator>(
            &config.database_url(ServiceName::Audit),
            config.migrate_on_start,
        )
        .await?;
        let kek = keyholder_kit::kek::KekRing::from_config(config)?;
        let store = Store::new(db, clock.clone());
        let witness: Option<Arc<dyn witness::Witness>> = if options.witness_off {
            None
        } else {
            Some(Arc::new(witness::FileWitness::open(&settings.witness_dir)?))
        };
        let ledger = Ledger::load(
            store.clone(),
            &kek,
            CheckpointPolicy::from_config(config),
            witness,
        )
        .await?;
        let identity_url = &config.identity.url;
        let identity_channel = channel(identity_url, &config.tls)?;
        let auth = Authenticator::new(
            Arc::new(RemoteKeySet::new(identity_channel.clone())),
            AUDIENCE_AUDIT,
            // The injected clock: the one identity issues tokens by.
            clock.clone(),
        );
        let standing = Arc::new(StandingTable::new(settings.standing_max_staleness));
        let gate = Gate::new(auth, standing.clone(), &[]);
        let standing_token = Arc::new(CredentialsFileToken::new(
            identity_channel.clone(),
            config.credentials_file(ServiceName::Audit),
            clock.clone(),
        ));
        let contacts: Arc<dyn ContactSource> = match &options.contacts {
            Some(c) => c.clone(),
            None => Arc::new(IdentityContacts::new(
                identity_url,
                &config.tls,
                config.credentials_file(ServiceName::Audit),
                settings.contacts_cache,
                clock.clone(),
            )?),
        };
        let mailer = match &options.mailer {
            Some(m) => m.clone(),
            None => {
                if config.audit.smtp_url.is_none() {
                    // The mail folder holds sign-in notices and invitation
                    // links: owner-only, made here before the mailer opens it.
                    keyholder_kit::files::create_private_dir(&config.data_dir.join("mail"))
                        .map_err(|e| StartError::Mail(format!("mail folder: {e}")))?;
                }
                mail::from_config(config).map_err(StartError::Mail)?
            }
        };
        let mail_owner = MailOwner::acquire(&config.data_dir);
        let worker = MailWorker::new(
            store.clone(),
            contacts,
            mailer,
            config.audit.mail_from.clone(),
        )
        .with_owner(mail_owner.id());
        Ok(Self {
            api: AuditApi {
                appender: crate::store::group_commit::GroupCommit::new(store.clone()),
                store,
                ledger,
                mail_wakeup: Arc::new(Notify::new()),
            },
            gate,
            standing,
            identity_channel,
            standing_token,
            worker,
            mail_owner,
            options,
            grace: settings.grace,
            mail_poll: settings.mail_poll,
            metrics: keyholder_kit::metrics::Metrics::new("audit"),
            metrics_listen: settings.metrics_listen,
            tls: config.tls.clone(),
        })
    }

    /// The mailer worker (tests drive it with `deliver_once`).
    pub fn mail_worker(&self) -> MailWorker {
        self.worker.clone()
    }

    /// The store (tests reach into the tables through it).
    pub fn store(&self) -> Store {
        self.api.store.clone()
    }

    /// The chain verifier and checkpoint signer (tests call `checkpoint_all`).
    pub fn ledger(&self) -> Ledger {
        self.api.ledger.clone()
    }

    /// Runs the background tasks and serves until `shutdown` is cancelled.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), StartError> {
        // Held until this returns: while it is, no restart on the same data
        // dir may take this worker's claims.
        let mail_owner = self.mail_owner;
        if mail_owner.reclaims()
            && let Err(e) = self.worker.reclaim().await
        {
            tracing::warn!(error = %e, "reclaiming claims left by a crash failed; they wait for their lease");
        }
        let mut mail_task = (!self.options.manual_mail).then(|| {
            AbortOnDrop(tokio::spawn(mail_loop(
                self.worker.clone(),
                self.api.mail_wakeup.clone(),
                self.mail_poll,
                shutdown.clone(),
            )))
        });
        tokio::spawn(checkpoint_loop(self.api.ledger.clone(), shutdown.clone()));
        tokio::spawn(keyholder_kit::standing::follow(
            self.standing.clone(),
            self.identity_channel.clone(),
            self.standing_token.clone(),
            shutdown.clone(),
        ));
        let db = self.api.store.db.clone();
        if self.metrics_listen.is_some() {
            tokio::spawn(keyholder_kit::metrics::follow_standing_age(
                self.metrics.clone(),
                self.standing.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(keyholder_kit::metrics::refresh_sql_gauges(
                db.clone(),
                metrics::gauges(&self.metrics),
                shutdown.clone(),
            ));
        }
        let routes = tonic::service::Routes::new(
            AuditServiceServer::new(self.api)
                .max_decoding_message_size(keyholder_kit::transport_status::MAX_REQUEST_BYTES),
        );
        serve(
            listener,
            routes,
            ServeOptions {
                health_names: vec!["keyholder.audit.v1.AuditService"],
                grace: self.grace,
                gate: self.gate,
                readiness: vec![Arc::new(DatabaseReady(db)), self.standing.clone()],
                metrics: self.metrics,
                metrics_listen: self.metrics_listen,
                tls: self.tls,
            },
            shutdown,
        )
        .await?;
        // Let an e-mail being sent finish, so a clean stop leaves no claim
        // behind; past the grace the task is aborted (the claim then waits
        // for a restart to reclaim it, or for its lease).
        if let Some(task) = mail_task.as_mut() {
            let _ = tokio::time::timeout(self.grace, &mut task.0).await;
        }
        drop(mail_owner);
        Ok(())
    }
}
