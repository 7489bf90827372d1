//! Helpdesk connectors over a real webhook port: webhooks signed in the test
//! exactly as Zendesk, Jira and Standard Webhooks senders sign them (the
//! documented formulas, computed here with ring's HMAC, never with
//! Keyholder's code); and outbound events received by a tiny subscriber on
//! loopback, their signatures checked by the same formula.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use keyholder_kit::clock::Clock;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use ring::hmac;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::Code;

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

/// Posts `body` with `headers`; returns the status and the answer's text.
async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).to_string())
}

async fn connector(
    ctx: &Ctx,
    kind: pb::HelpdeskKind,
    secret: &str,
    tenant_field: &str,
) -> pb::CreateHelpdeskConnectorResponse {
    connector_tagged(ctx, kind, secret, tenant_field, "").await
}

async fn connector_tagged(
    ctx: &Ctx,
    kind: pb::HelpdeskKind,
    secret: &str,
    tenant_field: &str,
    request_tag: &str,
) -> pb::CreateHelpdeskConnectorResponse {
    let op = ctx.suite.operator_token().await;
    ctx.broker()
        .create_helpdesk_connector(bearer(
            pb::CreateHelpdeskConnectorRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                kind: kind as i32,
                display_name: format!("{kind:?} test"),
                signing_secret: secret.into(),
                mapping: Some(pb::HelpdeskFieldMapping {
                    tenant_field: tenant_field.into(),
                    ..Default::default()
                }),
                request_tag: request_tag.into(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
}

/// The table's one secret is stored sealed: no trace of `secret` in the database.
async fn assert_sealed(ctx: &Ctx, table: &str, secret: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = ctx.broker_db().await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT secret FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let stored: String = row.try_get("", "secret").unwrap();
    assert!(keyholder_kit::kek::is_envelope(&stored), "{table}: sealed");
    assert!(!stored.contains(secret) && !stored.contains(&secret[6..16]));
}

async fn allowed(ctx: &Ctx, backend: &str, session_token: &str) -> bool {
    let mut b = ctx.broker();
    ctx.check(&mut b, backend, session_token, "crm.deal", "read")
        .await
        .allowed
}

fn now_s(ctx: &Ctx) -> i64 {
    ctx.suite.clock.now().timestamp()
}

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

fn standard_headers(key: &[u8], id: &str, ts: i64, body: &str) -> Vec<(&'static str, String)> {
    let sig = B64.encode(hmac256(key, format!("{id}.{ts}.{body}").as_bytes()));
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", format!("v1,bm90LXRoaXMtb25l v1,{sig}")),
    ]
}

#[tokio::test]
async fn standard_webhooks_close_tickets_with_a_generated_secret() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, s) = ctx.live_session(read_only()).await;
    let c = connector(&ctx, pb::HelpdeskKind::Standard, "", "data.tenant_id").await;
    let secret = c.generated_signing_secret.clone();
    let key = B64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    let conn = c.connector.unwrap();
    // The secret is shown once: listing never returns it.
    let op = ctx.suite.operator_token().await;
    let listed = ctx
        .broker()
        .list_helpdesk_connectors(bearer(pb::ListHelpdeskConnectorsRequest {}, &op))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.connectors, vec![conn.clone()]);
    assert_eq!(
        conn.mapping.as_ref().unwrap().ticket_field,
        "data.ticket_id"
    );
    let path = format!("/webhooks/{}", conn.connector_id);
    let addr = ctx.broker.webhook_addr;
    let body = json!({
        "type": "ticket.closed",
        "timestamp": "2026-11-27T10:00:00Z",
        "data": {"tenant_id": ctx.tenant.tenant_id, "ticket_id": "T-100", "status": "closed"}
    })
    .to_string();
    let old = standard_headers(&key, "msg_1", now_s(&ctx) - 400, &body);
    assert_eq!(post(addr, &path, &old, &body).await.0, 401);
    assert!(allowed(&ctx, &backend, &s.access_token).await);
    let h = standard_headers(&key, "msg_1", now_s(&ctx), &body);
    let (code, text) = post(addr, &path, &h, &body).await;
    assert_eq!(
        (code, text.as_str()),
        (200, "ticket closed: 1 grants revoked, 0 requests cancelled")
    );
    assert!(!allowed(&ctx, &backend, &s.access_token).await);
    let (code, text) = post(addr, &path, &h, &body).await;
    assert_eq!((code, text.as_str()), (200, "already processed"));

    // Only the operator manages connectors.
    let err = ctx
        .broker()
        .list_helpdesk_connectors(bearer(
            pb::ListHelpdeskConnectorsRequest {},
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, &["operator"]);
    let err = ctx
        .broker()
        .create_helpdesk_connector(bearer(
            pb::CreateHelpdeskConnectorRequest {
                kind: pb::HelpdeskKind::Jira as i32,
                display_name: "x".into(),
                signing_secret: "0123456789abcdef".into(),
                mapping: None,
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, &["tenant_field"]);
    // Deleted: its webhooks are refused.
    ctx.broker()
        .delete_helpdesk_connector(bearer(
            pb::DeleteHelpdeskConnectorRequest {
                connector_id: conn.connector_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap();
    let h = standard_headers(&key, "msg_2", now_s(&ctx), &body);
    assert_eq!(post(addr, &path, &h, &body).await.0, 401);
}

/// A subscriber on loopback: records what it got while up, answers 503 while down.
#[derive(Default)]
struct Subscriber {
    got: Mutex<Vec<(axum::http::HeaderMap, String)>>,
    down: AtomicBool,
}

async fn subscriber() -> (Arc<Subscriber>, SocketAddr) {
    let sub = Arc::new(Subscriber::default());
    let state = sub.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                if state.down.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                state.got.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (sub, addr)
}

impl Subscriber {
    /// The event types received, after checking every signature by formula.
    fn types(&self, key: &[u8]) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(h, body)| {
                let get = |n: &str| h.get(n).unwrap().to_str().unwrap().to_string();
                let (id, ts) = (get("webhook-id"), get("webhook-timestamp"));
                let expected = format!(
                    "v1,{}",
                    B64.encode(hmac256(key, format!("{id}.{ts}.{body}").as_bytes()))
                );
                assert!(
                    get("webhook-signature").split(' ').any(|s| s == expected),
                    "signature of {id}"
                );
                let v: serde_json::Value = serde_json::from_str(body).unwrap();
                assert_eq!(v["data"]["event_id"], id.as_str());
                v["type"].as_str().unwrap().to_string()
            })
            .collect()
    }
}

#[tokio::test]
async fn subscribers_receive_events_in_order_signed_and_after_being_down() {
    let ctx = Ctx::new().await;
    let (sub, addr) = subscriber().await;
    let op = ctx.suite.operator_token().await;
    let created = ctx
        .broker()
        .create_webhook_subscription(bearer(
            pb::CreateWebhookSubscriptionRequest {
                request_id: "sub-1".into(),
                url: format!("http://{addr}/hook"),
                event_types: vec![],
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    let key = B64
        .decode(created.signing_secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let sub_id = created.subscription.unwrap().subscription_id;
    assert_sealed(
        &ctx,
        "broker_webhook_subscriptions",
        &created.signing_secret,
    )
    .await;
    let (g, _) = ctx.live_session(read_only()).await;
    let first = [
        "access_request.created",
        "access_request.approved",
        "session.signed_in",
    ];
    assert!(
        eventually(|| async { sub.got.lock().unwrap().len() >= 3 }).await,
        "delivered while up"
    );
    assert_eq!(sub.types(&key), first);

    // Down: the revocation's events wait, failing, in the queue.
    sub.down.store(true, Ordering::SeqCst);
    ctx.broker()
        .revoke_grant(bearer(
            pb::RevokeGrantRequest {
                request_id: "rv-1".into(),
                grant_id: g.grant_id.clone(),
                reason: "done".into(),
            },
            &ctx.tenant.admin_token,
        ))
        .await
        .unwrap();
    let suite = &ctx.suite;
    let list = |state: pb::WebhookDeliveryState| {
        let sub_id = sub_id.clone();
        let mut b = ctx.broker();
        async move {
            // Signed in anew: the test moves the clock on by weeks.
            let op = suite.operator_token().await;
            b.list_webhook_deliveries(bearer(
                pb::ListWebhookDeliveriesRequest {
                    subscription_id: sub_id,
                    state: state as i32,
                    ..Default::default()
                },
                &op,
            ))
            .await
            .unwrap()
            .into_inner()
            .deliveries
        }
    };
    assert!(
        eventually(|| async {
            let pending = list(pb::WebhookDeliveryState::Pending).await;
            pending.len() == 2
                && pending
                    .iter()
                    .any(|d| d.attempts >= 1 && d.last_error == "HTTP 503")
        })
        .await,
        "failed attempts are listed"
    );
    assert_eq!(sub.got.lock().unwrap().len(), 3);
    // A while later the subscriber is back; the retry comes due.
    sub.down.store(false, Ordering::SeqCst);
    ctx.suite.clock.advance(chrono::Duration::minutes(6));
    assert!(
        eventually(|| async { sub.got.lock().unwrap().len() >= 5 }).await,
        "delivered after the subscriber came back"
    );
    let mut all: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    all.extend([
        "grant.revoked".to_string(),
        "session.signed_out".to_string(),
    ]);
    assert_eq!(sub.types(&key), all);
    let delivered = list(pb::WebhookDeliveryState::Delivered).await;
    assert_eq!(delivered.len(), 5);
    assert!(list(pb::WebhookDeliveryState::Pending).await.is_empty());
    // The grant.revoked event names who ended it and why.
    let revoked = sub.got.lock().unwrap()[3].1.clone();
    let v: serde_json::Value = serde_json::from_str(&revoked).unwrap();
    assert_eq!(v["data"]["grant_id"], g.grant_id.as_str());
    assert_eq!(v["data"]["end_reason"], "done");

    // Settled deliveries are listable for 30 days, then forgotten.
    ctx.suite.clock.advance(chrono::Duration::days(29));
    assert_eq!(
        ctx.broker.handle.prune_webhook_deliveries().await.unwrap(),
        0
    );
    ctx.suite.clock.advance(chrono::Duration::days(2));
    assert_eq!(
        ctx.broker.handle.prune_webhook_deliveries().await.unwrap(),
        5
    );
    assert!(list(pb::WebhookDeliveryState::Unspecified).await.is_empty());

    // The secret is shown once: a retry of the same create gets no secret.
    let op = ctx.suite.operator_token().await;
    let again = ctx
        .broker()
        .create_webhook_subscription(bearer(
            pb::CreateWebhookSubscriptionRequest {
                request_id: "sub-1".into(),
                url: format!("http://{addr}/hook"),
                event_types: vec![],
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.subscription.unwrap().subscription_id, sub_id);
    assert!(again.signing_secret.is_empty());
    // URLs must be http(s); event types must be known.
    for (url, types, field) in [
        ("ftp://example.com/x", vec![], "url"),
        (
            "https://example.com/x",
            vec!["grant.nope".to_string()],
            "event_types",
        ),
    ] {
        let err = ctx
            .broker()
            .create_webhook_subscription(bearer(
                pb::CreateWebhookSubscriptionRequest {
                    request_id: String::new(),
                    url: url.into(),
                    event_types: types,
                },
                &op,
            ))
            .await
            .unwrap_err();
        assert_status(&err, Code::InvalidArgument, &[field]);
    }
}

#[tokio::test]
async fn a_tagged_ticket_asks_for_access_for_its_assignee_once() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let c = connector_tagged(
        &ctx,
        pb::HelpdeskKind::Standard,
        "",
        "data.tenant_id",
        "keyholder-access",
    )
    .await;
    let key = B64
        .decode(c.generated_signing_secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let conn = c.connector.unwrap();
    assert_eq!(conn.request_tag, "keyholder-access");
    assert_eq!(conn.mapping.as_ref().unwrap().tags_field, "data.tags");
    let path = format!("/webhooks/{}", conn.connector_id);
    let addr = ctx.broker.webhook_addr;
    let body = |status: &str, assignee: &str| {
        json!({
            "type": "ticket.updated",
            "timestamp": "2026-11-27T10:00:00Z",
            "data": {
                "tenant_id": ctx.tenant.tenant_id,
                "ticket_id": "T-200",
                "status": status,
                "subject": "Export to CSV fails for the sales team",
                "tags": ["vip", "keyholder-access"],
                "assignee_email": assignee,
            }
        })
        .to_string()
    };
    let send = |id: &'static str, body: String| {
        let h = standard_headers(&key, id, now_s(&ctx), &body);
        let path = path.clone();
        async move { post(addr, &path, &h, &body).await }
    };
    let pending = || async {
        ctx.broker()
            .list_access_requests(bearer(
                pb::ListAccessRequestsRequest {
                    tenant_id: ctx.tenant.tenant_id.clone(),
                    ticket_ref: "T-200".into(),
                    state: pb::AccessRequestState::Pending as i32,
                    ..Default::default()
                },
                &ctx.tenant.admin_token,
            ))
            .await
            .unwrap()
            .into_inner()
            .access_requests
    };
    // An assignee who is no support agent: refused, nothing filed.
    let (code, _) = send("m-0", body("open", "nobody@vendor.example")).await;
    assert_eq!(code, 422);
    assert!(pending().await.is_empty());

    let (code, text) = send("m-1", body("open", &ctx.agent.email)).await;
    assert_eq!(code, 200, "{text}");
    let filed = pending().await;
    assert_eq!(filed.len(), 1);
    assert_eq!(
        text,
        format!("access requested: {}", filed[0].access_request_id)
    );
    assert_eq!(filed[0].agent_id, ctx.agent.agent_id);
    assert_eq!(
        filed[0].reason,
        "Helpdesk ticket T-200: Export to CSV fails for the sales team"
    );
    // The next update still carries the tag: no second request.
    let (code, text) = send("m-2", body("pending", &ctx.agent.email)).await;
    assert_eq!((code, text.as_str()), (200, "access already requested"));
    assert_eq!(pending().await.len(), 1);
    // Solving the ticket cancels it.
    let (code, text) = send("m-3", body("solved", &ctx.agent.email)).await;
    assert_eq!(
        (code, text.as_str()),
        (200, "ticket closed: 0 grants revoked, 1 requests cancelled")
    );
    assert!(pending().await.is_empty());
}

#[tokio::test]
async fn two_brokers_send_each_event_once_in_order() {
    let ctx = Ctx::new().await;
    let _second = ctx.suite.start_another_broker().await;
    let (sub, addr) = subscriber().await;
    let op = ctx.suite.operator_token().await;
    let created = ctx
        .broker()
        .create_webhook_subscription(bearer(
            pb::CreateWebhookSubscriptionRequest {
                request_id: String::new(),
                url: format!("http://{addr}/hook"),
                event_types: vec!["access_request.created".into()],
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    let key = B64
        .decode(created.signing_secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    for i in 0..6 {
        ctx.request(&format!("T-{i}"), read_only()).await;
    }
    assert!(eventually(|| async { sub.got.lock().unwrap().len() >= 6 }).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sub.types(&key), vec!["access_request.created"; 6]);
    let tickets: Vec<String> = sub
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| {
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            v["data"]["ticket_ref"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(tickets, ["T-0", "T-1", "T-2", "T-3", "T-4", "T-5"]);
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
