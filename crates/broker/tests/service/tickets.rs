//! The helpdesk: filing on an agent's behalf, and closing the ticket ends
//! every grant bound to it and cancels its pending requests.

use crate::common::*;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn helpdesk_files_for_an_agent_and_closing_the_ticket_ends_access() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    let (_, helpdesk) = ctx
        .suite
        .create_service_account("helpdesk", &["broker.helpdesk"])
        .await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let mut msg = ctx.request_msg("T-77", read_only());
    msg.agent_id = ctx.agent.agent_id.clone();
    let req = ctx
        .broker()
        .create_access_request(bearer(msg, &helpdesk))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    assert_eq!(req.agent_id, ctx.agent.agent_id);
    let g = ctx.approve(&req.access_request_id).await;
    let c = ctx.credential(&g.grant_id).await;
    let s = ctx.sign_in(&c).await.unwrap();
    // A second request on the same ticket is still pending when it closes.
    let mut msg2 = ctx.request_msg("T-77", read_only());
    msg2.agent_id = ctx.agent.agent_id.clone();
    let pending = ctx
        .broker()
        .create_access_request(bearer(msg2, &helpdesk))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();

    let closed = ctx
        .broker()
        .close_ticket(bearer(
            pb::CloseTicketRequest {
                request_id: "close-1".into(),
                tenant_id: ctx.tenant.tenant_id.clone(),
                ticket_ref: "T-77".into(),
            },
            &helpdesk,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.revoked_grant_ids, vec![g.grant_id.clone()]);
    assert_eq!(
        closed.cancelled_access_request_ids,
        vec![pending.access_request_id.clone()]
    );
    let mut broker = ctx.broker();
    let after = ctx
        .check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(!after.allowed);
    assert!(
        after.reason.contains("ticket-closed") || after.reason.contains("revoked"),
        "{}",
        after.reason
    );
    let g2 = broker
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
    // The helpdesk may not close tickets without its scope; agents may not either.
    let err = broker
        .close_ticket(bearer(
            pb::CloseTicketRequest {
                request_id: String::new(),
                tenant_id: ctx.tenant.tenant_id.clone(),
                ticket_ref: "T-77".into(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, &["broker.helpdesk"]);
}
