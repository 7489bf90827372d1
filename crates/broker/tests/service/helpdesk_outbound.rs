//! Outbound events: received by a tiny subscriber on loopback, their
//! signatures checked by the Standard Webhooks formula.

use crate::common::*;
use crate::helpdesk_common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::Code;

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
