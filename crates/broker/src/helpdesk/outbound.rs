//! Sends each subscription's queued events (store::webhooks) as Standard
//! Webhooks: `webhook-id` (the event id, the same on every retry),
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`. One
//! event at a time per subscription, oldest first, so a subscriber sees them
//! in order; a failure is retried with exponential backoff (1 s doubling up
//! to 5 minutes, by the broker's clock) and holds back the events behind it,
//! and after a day of failures the event is given up (listed as FAILED) so
//! the rest flow. A broker leases the row it sends (a conditional update),
//! so two brokers never send one subscription's events at once, and no
//! database transaction stays open across the HTTP call.

use super::signature;
use crate::error::Error;
use crate::store::entities::webhook_deliveries::Model as Delivery;
use crate::store::{Store, webhooks};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use keyholder_kit::CancellationToken;
use keyholder_kit::clock::SharedClock;
use keyholder_kit::kek::KekRing;
use keyholder_kit::outbox::Backoff;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long one attempt may take, connect to answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval (rows written by other brokers, retries coming due).
pub const POLL: Duration = Duration::from_millis(500);
/// Longest wait between attempts.
pub const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;
/// How long a broker holds a row it is sending: longer than an attempt, so
/// only a broker that died mid-send lets it lapse (and then it is resent).
pub const LEASE_MS: i64 = 60 * 1000;
/// An event still undelivered this long after it happened is given up.
pub const GIVE_UP_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// The retry schedule: 1 s doubling up to [`MAX_BACKOFF_MS`] (the kit's
/// one backoff rule).
pub const BACKOFF: Backoff = Backoff::new(
    Duration::from_secs(1),
    Duration::from_millis(MAX_BACKOFF_MS.unsigned_abs()),
);

/// The wait after the `attempts`-th failure: 1 s, 2 s, 4 s … up to 5 minutes.
pub fn backoff_ms(attempts: i32) -> i64 {
    let failures = u32::try_from(attempts).unwrap_or(0).saturating_add(1);
    i64::try_from(BACKOFF.delay(failures).as_millis()).unwrap_or(MAX_BACKOFF_MS)
}

/// How often settled rows older than [`webhooks::KEEP_SETTLED_MS`] are forgotten.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Forgets settled deliveries older than [`webhooks::KEEP_SETTLED_MS`].
pub async fn prune(store: &Store, clock: &SharedClock) -> Result<u64, Error> {
    let before = clock.now().timestamp_millis() - webhooks::KEEP_SETTLED_MS;
    Ok(webhooks::prune(store.db(), before).await?)
}

/// Delivers until shutdown.
pub async fn run(store: Store, kek: KekRing, clock: SharedClock, shutdown: CancellationToken) {
    let client = match Client::new() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "webhook client cannot start; outbound webhooks are off");
            return;
        }
    };
    let wake = store.webhook_wake().clone();
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(std::time::Instant::now());
            if let Err(e) = prune(&store, &clock).await {
                tracing::warn!(error = %e, "pruning settled webhook deliveries failed");
            }
        }
        let sent = match deliver_once(&store, &kek, &clock, &client).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery round failed");
                0
            }
        };
        if sent > 0 {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One attempt for every subscription whose oldest event is due; returns
/// how many were delivered or given up.
pub async fn deliver_once(
    store: &Store,
    kek: &KekRing,
    clock: &SharedClock,
    client: &Arc<Client>,
) -> Result<usize, Error> {
    let now_ms = clock.now().timestamp_millis();
    let due: Vec<String> = webhooks::heads(store.db())
        .await?
        .into_iter()
        .filter(|d| d.next_attempt_at_ms <= now_ms)
        .map(|d| d.subscription_id)
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for id in due {
        let (store, kek, clock, client) =
            (store.clone(), kek.clone(), clock.clone(), client.clone());
        set.spawn(async move { attempt(&store, &kek, &clock, &client, &id).await });
    }
    let mut settled = 0;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(true)) => settled += 1,
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "webhook delivery failed"),
            Err(e) => tracing::error!(error = %e, "webhook delivery task failed"),
        }
    }
    Ok(settled)
}

/// Sends a subscription's oldest event once; true when it was settled
/// (delivered or given up).
async fn attempt(
    store: &Store,
    kek: &KekRing,
    clock: &SharedClock,
    client: &Client,
    subscription_id: &str,
) -> Result<bool, Error> {
    let db = store.db();
    let Some(sub) = webhooks::get(db, subscription_id).await? else {
        // Deleted meanwhile.
        return Ok(false);
    };
    let Some(d) = webhooks::head_of(db, subscription_id).await? else {
        return Ok(false);
    };
    let now_ms = clock.now().timestamp_millis();
    if d.next_attempt_at_ms > now_ms
        || !webhooks::lease(db, d.seq, now_ms, now_ms + LEASE_MS).await?
    {
        // Not due, or another broker is sending it.
        return Ok(false);
    }
    let secret = kek
        .open_str(webhooks::SUBSCRIPTION_SECRET, &sub.id, &sub.secret)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let key = signature::standard_key(&secret)
        .ok_or_else(|| Error::Internal("a subscription secret is malformed".into()))?;
    let result = client
        .post(&sub.url, &key, &d, clock.now().timestamp())
        .await;
    let now_ms = clock.now().timestamp_millis();
    match result {
        Ok(()) => {
            webhooks::mark_delivered(db, d.seq, now_ms).await?;
            Ok(true)
        }
        Err(why) => {
            let give_up = now_ms - d.created_at_ms >= GIVE_UP_AFTER_MS;
            let retry = (!give_up).then(|| now_ms + backoff_ms(d.attempts));
            tracing::warn!(subscription_id = %sub.id, event_id = %d.event_id, attempts = d.attempts + 1, error = %why, given_up = give_up, "webhook not delivered");
            webhooks::mark_failed(db, d.seq, &why, retry, now_ms).await?;
            Ok(give_up)
        }
    }
}

/// A small HTTP/1.1 client: plain TCP for http, rustls (ring, the Mozilla
/// roots) for https.
pub struct Client {
    tls: tokio_rustls::TlsConnector,
}

impl Client {
    /// Builds the TLS configuration.
    pub fn new() -> Result<Self, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Posts one event; Ok on a 2xx answer. The error never holds the URL
    /// (it may carry a token) or the secret.
    pub async fn post(
        &self,
        url: &str,
        key: &[u8],
        d: &Delivery,
        now_s: i64,
    ) -> Result<(), String> {
        tokio::time::timeout(ATTEMPT_TIMEOUT, self.post_inner(url, key, d, now_s))
            .await
            .map_err(|_| format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))?
    }

    async fn post_inner(
        &self,
        url: &str,
        key: &[u8],
        d: &Delivery,
        now_s: i64,
    ) -> Result<(), String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|_| "the URL does not parse".to_string())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the URL is not http(s)".into()),
        };
        let host = uri.host().ok_or("the URL has no host")?.to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("cannot connect: {}", e.kind()))?;
        let signature = signature::sign_standard(key, &d.event_id, now_s, d.payload.as_bytes());
        let req = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "Keyholder-Webhooks/1")
            .header(signature::STANDARD_ID, &d.event_id)
            .header(signature::STANDARD_TIMESTAMP, now_s.to_string())
            .header(signature::STANDARD_SIGNATURE, signature)
            .body(Full::new(Bytes::from(d.payload.clone())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let status = if https {
            let name =
                rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                    .map_err(|_| "the URL's host is not a valid server name".to_string())?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            send(TokioIo::new(tls), req).await?
        } else {
            send(TokioIo::new(tcp), req).await?
        };
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }
}

async fn send<T>(io: T, req: hyper::Request<Full<Bytes>>) -> Result<u16, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let conn = tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP request failed: {e}"));
    drop(sender);
    conn.abort();
    Ok(resp?.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_ms(0), 1000);
        assert_eq!(backoff_ms(3), 8000);
        assert_eq!(backoff_ms(9), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(1000), MAX_BACKOFF_MS);
    }
}
