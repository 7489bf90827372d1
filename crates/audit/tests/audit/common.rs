//! Shared fixtures: a suite with identity and audit, a producer token, events.

use chrono::{DateTime, Utc};
use keyholder_audit::AuditOptions;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::audit::AuditHandle;
use keyholder_testkit::{Suite, TenantFixture, bearer};
use prost_types::Timestamp;

pub struct World {
    pub suite: Suite,
    pub audit: AuditHandle,
    pub tenant: TenantFixture,
    /// A service account with `audit.events.write` (what broker uses).
    pub producer: String,
}

pub async fn world_with(configure: impl FnOnce(&mut Suite), options: AuditOptions) -> World {
    let mut suite = Suite::new().await;
    suite.start_identity().await;
    configure(&mut suite);
    let audit = suite.start_audit_with(options).await;
    let tenant = suite.create_tenant("Acme Trading", 10).await;
    let (_, producer) = suite
        .create_service_account("broker-test", &["audit.events.write"])
        .await;
    World {
        suite,
        audit,
        tenant,
        producer,
    }
}

/// Identity, audit (mail driven by the test, into the data dir's mail folder), one tenant.
pub async fn world() -> World {
    world_with(
        |_| {},
        AuditOptions {
            manual_mail: true,
            ..AuditOptions::default()
        },
    )
    .await
}

pub fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn actor(id: &str, kind: &str, name: &str, email: &str) -> pb::Actor {
    pb::Actor {
        actor_id: id.into(),
        kind: kind.into(),
        display_name: name.into(),
        email: email.into(),
    }
}

pub fn agent_ann() -> pb::Actor {
    actor(
        "agent-ann",
        "support_agent",
        "Ann Agent",
        "ann@vendor.example",
    )
}

/// An event of `kind` in `tenant` at `at`, with a fresh id.
pub fn event(tenant: &str, kind: pb::EventKind, at: DateTime<Utc>) -> pb::Event {
    pb::Event {
        event_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.into(),
        kind: kind as i32,
        occur_time: Some(ts(at)),
        source: "broker".into(),
        ..Default::default()
    }
}

/// A sign-in with every login-history field filled.
pub fn sign_in(tenant: &str, at: DateTime<Utc>, session: &str) -> pb::Event {
    pb::Event {
        agent: Some(agent_ann()),
        actor: Some(agent_ann()),
        granted_by: Some(actor(
            "admin-1",
            "employee",
            "Carl Chief",
            "carl@customer.example",
        )),
        access_request_id: "req-1".into(),
        grant_id: "grant-1".into(),
        session_id: session.into(),
        ticket_ref: "HD-4711".into(),
        reason: "customer cannot import leads".into(),
        expire_time: Some(ts(at + chrono::Duration::days(7))),
        ..event(tenant, pb::EventKind::SignIn, at)
    }
}

pub async fn ingest(w: &World, events: Vec<pb::Event>) -> pb::IngestEventsResponse {
    w.suite
        .audit()
        .ingest_events(bearer(pb::IngestEventsRequest { events }, &w.producer))
        .await
        .expect("ingest")
        .into_inner()
}

/// A full verification: what the tamper tests were written against (they
/// edit rows below a signed checkpoint, which only a full pass re-reads).
pub async fn verify(w: &World, tenant: &str, token: &str) -> pb::VerifyChainResponse {
    verify_mode(w, tenant, token, true).await
}

/// A verification, incremental unless `full`.
pub async fn verify_mode(
    w: &World,
    tenant: &str,
    token: &str,
    full: bool,
) -> pb::VerifyChainResponse {
    w.suite
        .audit()
        .verify_chain(bearer(
            pb::VerifyChainRequest {
                tenant_id: tenant.into(),
                full,
            },
            token,
        ))
        .await
        .expect("verify chain")
        .into_inner()
}

pub async fn notifications(w: &World) -> Vec<pb::Notification> {
    // Tests move the clock by hours: sign in again rather than reuse a token.
    let token = w.suite.admin_token_now(&w.tenant).await;
    w.suite
        .audit()
        .list_notifications(bearer(
            pb::ListNotificationsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("list notifications")
        .into_inner()
        .notifications
}

pub fn now() -> DateTime<Utc> {
    // Whole seconds, like what a producer usually sends.
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}
