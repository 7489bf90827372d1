//! How a broker hears that another broker ended access: PostgreSQL
//! LISTEN/NOTIFY for the fast path, and a poll of the revocation log as the
//! fallback that bounds staleness when a notification is missed (the only
//! path on SQLite besides local invalidation).

use crate::store::{Ended, Store, revocations};
use keyholder_kit::CancellationToken;
use std::time::Duration;

/// Runs until shutdown, polling the revocation log every `poll`
/// (`broker.revocation_poll_ms`).
pub async fn run(store: Store, poll: Duration, shutdown: CancellationToken) {
    if store.is_postgres() {
        tokio::spawn(listen(store.clone(), shutdown.clone()));
    }
    let mut last = revocations::latest(store.db()).await.unwrap_or(0);
    while super::pause(poll, &shutdown).await {
        match revocations::since(store.db(), last, 1000).await {
            Ok(rows) => {
                if let Some(r) = rows.last() {
                    last = r.seq;
                }
                let mut ended = Ended::default();
                for r in rows {
                    if r.session_id.is_empty() {
                        ended.grants.push(r.grant_id);
                    } else {
                        ended.sessions.push(r.session_id);
                    }
                }
                if !ended.is_empty() {
                    store.cache().invalidate(&ended).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "revocation poll failed"),
        }
    }
}

async fn listen(store: Store, shutdown: CancellationToken) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let pool = store.db().get_postgres_connection_pool();
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "revocation listener cannot connect");
                if !super::pause(Duration::from_secs(1), &shutdown).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(revocations::CHANNEL).await {
            tracing::warn!(error = %e, "revocation listener cannot listen");
            if !super::pause(Duration::from_secs(1), &shutdown).await {
                return;
            }
            continue;
        }
        // Anything ended while we were not listening is unknown: start clean.
        store.cache().clear();
        loop {
            let n = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = listener.try_recv() => n,
            };
            match n {
                Ok(Some(n)) => {
                    let mut ended = Ended::default();
                    match n.payload().split_once(':') {
                        Some(("g", id)) => ended.grants.push(id.to_string()),
                        Some(("s", id)) => ended.sessions.push(id.to_string()),
                        _ => {}
                    }
                    store.cache().invalidate(&ended).await;
                }
                Ok(None) => {
                    // The connection dropped; notifications may be lost.
                    store.cache().clear();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "revocation listener failed");
                    store.cache().clear();
                    break;
                }
            }
        }
    }
}
