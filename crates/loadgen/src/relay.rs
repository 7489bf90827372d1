//! ReportAction end to end: actions offered to broker at a fixed rate, each
//! written to broker's outbox in the call's transaction, relayed to audit
//! and appended to the tenant's chain. What counts is when the last of them
//! is in audit's log, read by VerifyChain (which also proves the chain
//! intact).

use crate::open_loop::{self, Pacing, Plan};
use anyhow::Context;
use bytes::Bytes;
use prost::Message;
use std::time::{Duration, Instant};

/// Where and as whom.
pub struct Target<'a> {
    /// Broker's URL.
    pub broker: String,
    /// Audit's URL.
    pub audit: String,
    /// The tenant whose session reports.
    pub tenant_id: &'a str,
    /// A live support session.
    pub session_token: &'a str,
    /// The backend's service-account token (scope `broker.check_access`).
    pub backend_token: &'a str,
    /// A tenant admin's token, to read the tenant's log.
    pub admin_token: &'a str,
}

/// Audit, as the tenant's admin.
type Audit =
    keyholder_proto::audit::v1::audit_service_client::AuditServiceClient<tonic::transport::Channel>;

/// Events in the tenant's log (the head an incremental VerifyChain signs),
/// and whether the chain holds. Incremental, so each call costs only what
/// arrived since the last one: a full pass per poll would compete with the
/// appends it is waiting for.
async fn logged(audit: &mut Audit, t: &Target<'_>) -> anyhow::Result<(i64, bool)> {
    let mut request = tonic::Request::new(keyholder_proto::audit::v1::VerifyChainRequest {
        tenant_id: t.tenant_id.to_string(),
        full: false,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", t.admin_token).parse()?,
    );
    let v = audit
        .verify_chain(request)
        .await
        .context("VerifyChain")?
        .into_inner();
    Ok((v.checkpoint_sequence, v.intact))
}

/// Offers `rate` ReportAction calls per second for `secs` seconds and
/// prints how fast they reached audit's log.
pub async fn report_into_audit(
    t: &Target<'_>,
    rate: f64,
    secs: f64,
    pacing: Pacing,
) -> anyhow::Result<()> {
    let mut audit = Audit::new(
        tonic::transport::Endpoint::from_shared(t.audit.clone())?
            .connect()
            .await?,
    );
    let (before, _) = logged(&mut audit, t).await?;
    let body = Bytes::from(
        keyholder_proto::broker::v1::ReportActionRequest {
            // Empty: each call is a new action (a retry-safe caller sets one).
            request_id: String::new(),
            session_token: t.session_token.to_string(),
            entity: "invoice".into(),
            action: "read".into(),
            resource_id: "inv-1".into(),
            detail: "load test".into(),
        }
        .encode_to_vec(),
    );
    let started = Instant::now();
    let r = open_loop::run(&Plan {
        target: t.broker.clone(),
        method: "/keyholder.broker.v1.BrokerService/ReportAction".into(),
        body,
        headers: vec![(
            "authorization".into(),
            format!("Bearer {}", t.backend_token),
        )],
        rate,
        duration: Duration::from_secs_f64(secs),
        warmup: Duration::ZERO,
        connections: 1,
        max_in_flight: 1000,
        drain: Duration::from_secs(30),
        pacing,
    })
    .await?;
    let answered = started.elapsed();
    println!("  ReportAction {rate:.0}/s offered: {}", r.line());
    let want = before + i64::try_from(r.ok)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut now, mut intact) = logged(&mut audit, t).await?;
    while now < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (now, intact) = logged(&mut audit, t).await?;
    }
    let in_log = started.elapsed();
    let arrived = now - before;
    println!(
        "  in audit's log: {arrived} of {} actions {:.1} s after the first was offered ({:.0} events/s end to end; broker answered all in {:.1} s); chain intact: {intact}",
        r.ok,
        in_log.as_secs_f64(),
        arrived as f64 / in_log.as_secs_f64(),
        answered.as_secs_f64(),
    );
    anyhow::ensure!(intact, "the chain is not intact after the run");
    anyhow::ensure!(
        arrived >= i64::try_from(r.ok)?,
        "only {arrived} of {} reported actions reached audit within 120 s",
        r.ok
    );
    Ok(())
}
