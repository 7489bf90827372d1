//! Starting services: one alone, or all three in one process sharing one
//! shutdown signal. Identity starts first because its bootstrap writes the
//! credentials the other two use.

use anyhow::Context;
use keyholder_audit::Audit;
use keyholder_broker::Broker;
use keyholder_identity::Identity;
use keyholder_kit::CancellationToken;
use keyholder_kit::clock;
use keyholder_kit::config::Config;
use keyholder_kit::kek;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

async fn bind(addr: SocketAddr, service: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{service} cannot listen on {addr}"))
}

/// Runs identity alone.
pub async fn identity(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let svc = Identity::prepare(config, clock::system())
        .await
        .context("identity start-up")?;
    let listener = bind(config.identity.listen, "identity").await?;
    svc.serve(listener, shutdown).await.context("identity")
}

/// Runs the broker alone.
pub async fn broker(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let svc = Broker::prepare(config, clock::system())
        .await
        .context("broker start-up")?;
    let listener = bind(config.broker.listen, "broker").await?;
    svc.serve(listener, shutdown).await.context("broker")
}

/// Runs audit alone.
pub async fn audit(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let svc = Audit::prepare(config, clock::system())
        .await
        .context("audit start-up")?;
    let listener = bind(config.audit.listen, "audit").await?;
    svc.serve(listener, shutdown).await.context("audit")
}

/// The configuration `up` runs with: when no key-encryption key is
/// configured, the one in the data dir, generated (mode 0600) on first start,
/// so the embedded default needs no set-up.
pub fn with_local_kek(config: &Config) -> anyhow::Result<Config> {
    let mut config = config.clone();
    if config.kek.is_none() && config.kek_file.is_none() {
        keyholder_kit::files::create_private_dir(&config.data_dir)
            .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
        let path = config.default_kek_file();
        if kek::create_file_if_missing(&path)? {
            tracing::info!(path = %path.display(), "generated a key-encryption key; keep it with the databases' backups, but not in them");
        }
        config.kek_file = Some(path);
    }
    Ok(config)
}

/// Runs all three; if one fails, the others are stopped too.
pub async fn up(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!(data_dir = %config.data_dir.display(), "starting the keyholder suite");
    let config = &with_local_kek(config)?;
    // Bind every port first, so a taken port fails before anything starts.
    let identity_listener = bind(config.identity.listen, "identity").await?;
    let broker_listener = bind(config.broker.listen, "broker").await?;
    let audit_listener = bind(config.audit.listen, "audit").await?;

    let identity = Identity::prepare(config, clock::system())
        .await
        .context("identity start-up")?;
    let broker = Broker::prepare(config, clock::system())
        .await
        .context("broker start-up")?;
    let audit = Audit::prepare(config, clock::system())
        .await
        .context("audit start-up")?;

    let mut tasks = JoinSet::new();
    let s = shutdown.clone();
    tasks.spawn(async move {
        identity
            .serve(identity_listener, s)
            .await
            .context("identity")
    });
    let s = shutdown.clone();
    tasks.spawn(async move { broker.serve(broker_listener, s).await.context("broker") });
    let s = shutdown.clone();
    tasks.spawn(async move { audit.serve(audit_listener, s).await.context("audit") });

    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("service task panicked").and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = %format!("{e:#}"), "a service failed; stopping the others");
            shutdown.cancel();
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
