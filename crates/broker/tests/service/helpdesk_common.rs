//! Shared by the helpdesk tests (`helpdesk_inbound`, `helpdesk_connectors`,
//! `helpdesk_outbound`): webhooks signed in the test exactly as Zendesk, Jira
//! and Standard Webhooks senders sign them (the documented formulas, computed
//! here with ring's HMAC, never with Keyholder's code), posted to the
//! broker's real webhook port.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use keyholder_kit::clock::Clock;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use ring::hmac;
use std::net::SocketAddr;

pub(crate) fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

/// Posts `body` with `headers`; returns the status and the answer's text.
pub(crate) async fn post(
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

pub(crate) async fn connector(
    ctx: &Ctx,
    kind: pb::HelpdeskKind,
    secret: &str,
    tenant_field: &str,
) -> pb::CreateHelpdeskConnectorResponse {
    connector_tagged(ctx, kind, secret, tenant_field, "").await
}

pub(crate) async fn connector_tagged(
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
pub(crate) async fn assert_sealed(ctx: &Ctx, table: &str, secret: &str) {
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

pub(crate) async fn allowed(ctx: &Ctx, backend: &str, session_token: &str) -> bool {
    let mut b = ctx.broker();
    ctx.check(&mut b, backend, session_token, "crm.deal", "read")
        .await
        .allowed
}

pub(crate) fn now_s(ctx: &Ctx) -> i64 {
    ctx.suite.clock.now().timestamp()
}

pub(crate) fn standard_headers(
    key: &[u8],
    id: &str,
    ts: i64,
    body: &str,
) -> Vec<(&'static str, String)> {
    let sig = B64.encode(hmac256(key, format!("{id}.{ts}.{body}").as_bytes()));
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", format!("v1,bm90LXRoaXMtb25l v1,{sig}")),
    ]
}
