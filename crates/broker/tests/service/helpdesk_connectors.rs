//! Helpdesk connectors managed by the operator: Standard Webhooks with a
//! generated secret, and a tagged ticket that asks for access.

use crate::common::*;
use crate::helpdesk_common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use serde_json::json;
use tonic::Code;

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
