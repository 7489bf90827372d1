//! Helpdesk webhooks coming in over the real webhook port: Zendesk and Jira
//! deliveries (signed, stale, forged, retried) and a client too slow to send
//! its headers.

use crate::common::*;
use crate::helpdesk_common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyholder_kit::clock::Clock;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use serde_json::json;
use std::time::{Duration, Instant};

/// A Zendesk trigger's JSON body (the docs' template, filled in).
fn zendesk_body(ctx: &Ctx, ticket: &str, status: &str) -> String {
    json!({
        "detail": {
            "id": ticket,
            "status": status,
            "subject": "Pipeline broken",
            "organization_external_id": ctx.tenant.tenant_id,
        }
    })
    .to_string()
}

/// Zendesk's headers: base64(HMAC-SHA256(secret, timestamp + body)).
fn zendesk_headers(secret: &str, ts: &str, body: &str) -> Vec<(&'static str, String)> {
    let sig = B64.encode(hmac256(secret.as_bytes(), format!("{ts}{body}").as_bytes()));
    vec![
        ("x-zendesk-webhook-signature", sig),
        ("x-zendesk-webhook-signature-timestamp", ts.to_string()),
    ]
}

fn zendesk_ts(ctx: &Ctx, offset_s: i64) -> String {
    (ctx.suite.clock.now() + chrono::Duration::seconds(offset_s))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn a_solved_zendesk_ticket_ends_access_within_a_second_and_refusals_change_nothing() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (g, s) = ctx.live_session(read_only()).await;
    let secret = "zd-signing-secret-0123456789abcdef";
    let c = connector(
        &ctx,
        pb::HelpdeskKind::Zendesk,
        secret,
        "detail.organization_external_id",
    )
    .await;
    assert!(c.generated_signing_secret.is_empty());
    let id = c.connector.unwrap().connector_id;
    assert_sealed(&ctx, "broker_helpdesk_connectors", secret).await;
    let path = format!("/webhooks/{id}");
    let addr = ctx.broker.webhook_addr;
    let body = zendesk_body(&ctx, "T-100", "Solved");

    // Signed with another secret; stale; unknown connector; no signature.
    let ts = zendesk_ts(&ctx, 0);
    let bad = zendesk_headers("not-the-secret-0123456789", &ts, &body);
    assert_eq!(post(addr, &path, &bad, &body).await.0, 401);
    let old = zendesk_ts(&ctx, -301);
    let stale = zendesk_headers(secret, &old, &body);
    assert_eq!(post(addr, &path, &stale, &body).await.0, 401);
    let good = zendesk_headers(secret, &ts, &body);
    let unknown = format!("/webhooks/{}", uuid::Uuid::now_v7());
    assert_eq!(post(addr, &unknown, &good, &body).await.0, 401);
    assert_eq!(post(addr, &path, &[], &body).await.0, 401);
    // A body changed after signing.
    let changed = zendesk_body(&ctx, "T-100", "Closed");
    assert_eq!(post(addr, &path, &good, &changed).await.0, 401);
    assert!(
        allowed(&ctx, &backend, &s.access_token).await,
        "refusals changed nothing"
    );
    assert!(
        eventually(|| async { ctx.received.of_kind(EventKind::WebhookRefused).len() == 5 }).await,
        "each refusal is recorded"
    );
    let refused = ctx.received.of_kind(EventKind::WebhookRefused);
    let causes: Vec<&str> = refused
        .iter()
        .map(|e| e.attributes["cause"].as_str())
        .collect();
    assert_eq!(
        causes,
        [
            "bad-signature",
            "stale-timestamp",
            "unknown-connector",
            "malformed",
            "bad-signature"
        ]
    );
    assert!(refused.iter().all(|e| e.tenant_id == "keyholder-operator"));

    // An open ticket's update is acknowledged and ignored.
    let open = zendesk_body(&ctx, "T-100", "Open");
    let (code, text) = post(addr, &path, &zendesk_headers(secret, &ts, &open), &open).await;
    assert_eq!(
        (code, text.as_str()),
        (200, "ignored: the ticket is not solved or closed")
    );
    assert!(allowed(&ctx, &backend, &s.access_token).await);

    let started = Instant::now();
    let (code, text) = post(addr, &path, &good, &body).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        text,
        "ticket closed: 1 grants revoked, 0 requests cancelled"
    );
    assert!(!allowed(&ctx, &backend, &s.access_token).await);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let g2 = ctx
        .broker()
        .get_grant(bearer(
            pb::GetGrantRequest {
                grant_id: g.grant_id.clone(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(g2.revoked_by, "ticket-closed");
}

#[tokio::test]
async fn a_retried_jira_delivery_acts_once() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, first) = ctx.live_session(read_only()).await;
    let secret = "jira-webhook-secret-0123456789";
    let c = connector(
        &ctx,
        pb::HelpdeskKind::Jira,
        secret,
        "issue.fields.customfield_10050",
    )
    .await;
    let path = format!("/webhooks/{}", c.connector.unwrap().connector_id);
    let addr = ctx.broker.webhook_addr;
    let body = |ts_ms: i64| {
        json!({
            "timestamp": ts_ms,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "issue": {
                "id": "10001",
                "key": "T-100",
                "fields": {
                    "summary": "Pipeline broken",
                    "status": {"name": "Resolved", "statusCategory": {"key": "done", "name": "Done"}},
                    "customfield_10050": ctx.tenant.tenant_id,
                }
            },
            "changelog": {"items": [{"field": "status", "fromString": "In Progress", "toString": "Resolved"}]}
        })
        .to_string()
    };
    let signed = |body: &str, delivery: &str| {
        vec![
            (
                "x-hub-signature",
                format!(
                    "sha256={}",
                    hex::encode(hmac256(secret.as_bytes(), body.as_bytes()))
                ),
            ),
            ("x-atlassian-webhook-identifier", delivery.to_string()),
        ]
    };
    let now_ms = ctx.suite.clock.now().timestamp_millis();
    // A payload whose own timestamp is older than five minutes.
    let old = body(now_ms - 301_000);
    assert_eq!(post(addr, &path, &signed(&old, "d-old"), &old).await.0, 401);
    assert!(allowed(&ctx, &backend, &first.access_token).await);

    let b = body(now_ms);
    let (code, text) = post(addr, &path, &signed(&b, "d-1"), &b).await;
    assert_eq!(
        (code, text.as_str()),
        (200, "ticket closed: 1 grants revoked, 0 requests cancelled")
    );
    assert!(!allowed(&ctx, &backend, &first.access_token).await);

    // New access on the same ticket; Jira retries the same delivery: it is
    // not acted on again.
    let r = ctx.request("T-100", read_only()).await;
    let g = ctx.approve(&r.access_request_id).await;
    let cred = ctx.credential(&g.grant_id).await;
    let second = ctx.sign_in(&cred).await.unwrap();
    let (code, text) = post(addr, &path, &signed(&b, "d-1"), &b).await;
    assert_eq!((code, text.as_str()), (200, "already processed"));
    assert!(allowed(&ctx, &backend, &second.access_token).await);
    // A bad signature on a new delivery id changes nothing either.
    let mut forged = signed(&b, "d-2");
    forged[0].1 = format!(
        "sha256={}",
        hex::encode(hmac256(b"guess-0123456789", b.as_bytes()))
    );
    assert_eq!(post(addr, &path, &forged, &b).await.0, 401);
    assert!(allowed(&ctx, &backend, &second.access_token).await);
    // Other Jira events are acknowledged and ignored.
    let other = json!({"timestamp": now_ms, "webhookEvent": "comment_created"}).to_string();
    let (code, text) = post(addr, &path, &signed(&other, "d-3"), &other).await;
    assert_eq!((code, text.as_str()), (200, "ignored: not a ticket event"));
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ctx = Ctx::new().await;
    let mut slow = tokio::net::TcpStream::connect(ctx.broker.webhook_addr)
        .await
        .unwrap();
    slow.write_all(b"POST /webhooks/x HTTP/1.1\r\nHost: keyholder\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read(&mut buf)).await;
    let elapsed = started.elapsed();
    // hyper answers 408 or just closes; either way the connection ends.
    let n = read.expect("the server cut the connection").unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(elapsed >= Duration::from_secs(9), "{elapsed:?}");
    // Meanwhile others are served.
    let (code, _) = post(ctx.broker.webhook_addr, "/webhooks/x", &[], "{}").await;
    assert_eq!(code, 401);
}
