//! The support-access lifecycle from BRIEF.md, every step over gRPC: closed by
//! default, a ticket-bound request, the admin's approval, a one-time
//! credential, the sign-in and the chief admin's e-mail, checked work, the
//! revoke that ends the live session, and the history the tenant reads.

use crate::flows::World;
use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn from_no_access_to_a_live_session_and_back_to_refused() {
    let w = World::start("Romashka LLC", identity::Locale::Ru).await;
    let tenant_id = w.tenant.tenant_id.clone();

    // 1. Closed by default: the agent cannot even ask, and is told what to do.
    let err = w
        .suite
        .broker()
        .create_access_request(bearer(
            broker::CreateAccessRequestRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant_id.clone(),
                agent_id: w.agent.agent_id.clone(),
                ticket_ref: "T-1001".into(),
                reason: "customer reports broken deal pipeline".into(),
                scope: Some(broker::Scope {
                    read_only: true,
                    ..Default::default()
                }),
                duration: None,
            },
            &w.helpdesk,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("administrator"), "{}", err.message());
    let refused = w
        .sign_in("", "just looking around the account")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("is not granted"),
        "{}",
        refused.message()
    );

    // 2. The admin opens access on request; the helpdesk asks for the agent.
    w.set_mode(broker::SupportAccessMode::OnRequest).await;
    let request = w
        .helpdesk_requests("T-1001", "customer reports broken deal pipeline")
        .await;
    assert_eq!(request.state, broker::AccessRequestState::Pending as i32);
    assert_eq!(request.agent_id, w.agent.agent_id);

    // 3. The admin approves for two days (shorter than the 7-day default).
    let grant = w.approve(&request.access_request_id, 2).await;
    assert_eq!(grant.state, broker::GrantState::Active as i32);
    assert_eq!(grant.granted_by, w.tenant.chief_admin_id);
    let lasts = grant.expire_time.unwrap().seconds - grant.create_time.unwrap().seconds;
    assert_eq!(lasts, 2 * 86_400);

    // 4. The one-time credential, and 5. the sign-in with a reason.
    let credential = w.credential(&grant.grant_id).await;
    let reason = "reproducing the pipeline error from T-1001";
    let signed_in = w
        .sign_in(&credential, reason)
        .await
        .expect("agent signs in");
    let session = signed_in.session.clone().unwrap();
    assert_eq!(session.grant_id, grant.grant_id);
    assert_eq!(session.reason, reason);

    // The chief admin is e-mailed, in the tenant's language, naming who,
    // where, why and for which ticket.
    let mail = w.mail_to(&w.tenant.admin_email, reason).await;
    let text = mail.body("text/plain").unwrap();
    for needle in ["Ivan Petrov", "Romashka LLC", reason, "T-1001"] {
        assert!(
            text.contains(needle) || mail.subject().contains(needle),
            "{needle:?} missing from:\n{text}"
        );
    }
    assert!(
        text.chars()
            .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c))),
        "not in Russian:\n{text}"
    );
    assert!(mail.body("text/html").is_some(), "no HTML part");

    // The credential was one-time.
    let reuse = w.sign_in(&credential, reason).await.unwrap_err();
    assert_eq!(reuse.code(), Code::PermissionDenied);

    // 6. Work: reads are allowed, changes are outside a read-only grant.
    let token = signed_in.access_token.clone();
    let read = w.check(&token, "crm.deal", "read").await;
    assert!(read.allowed, "{read:?}");
    assert_eq!(read.session_id, session.session_id);
    let change = w.check(&token, "crm.deal", "change").await;
    assert!(!change.allowed, "{change:?}");

    // 8. History: Vtiger's fields, while the session is live.
    let history = w
        .login_history_until(|h| {
            h.iter()
                .any(|e| e.succeeded && e.session_id == session.session_id)
        })
        .await;
    let entry = history
        .iter()
        .find(|e| e.session_id == session.session_id)
        .unwrap();
    assert_eq!(
        entry.accessed_by.as_ref().unwrap().display_name,
        "Ivan Petrov"
    );
    assert_eq!(
        entry.granted_by.as_ref().unwrap().actor_id,
        w.tenant.chief_admin_id
    );
    assert_eq!(entry.reason, reason);
    assert_eq!(entry.ticket_ref, "T-1001");
    assert_eq!(entry.grant_id, grant.grant_id);
    assert!(entry.sign_in_time.is_some());

    // 7. The admin revokes: the live session's token stops working at once.
    w.suite
        .broker()
        .revoke_grant(bearer(
            broker::RevokeGrantRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                grant_id: grant.grant_id.clone(),
                reason: "issue fixed".into(),
            },
            &w.tenant.admin_token,
        ))
        .await
        .expect("admin revokes");
    let after = w.check(&token, "crm.deal", "read").await;
    assert!(!after.allowed, "{after:?}");
    assert!(after.reason.contains("revoked"), "{}", after.reason);

    // A new sign-in is refused plainly, and the tenant sees the attempt.
    let refused = w
        .sign_in("", "trying again after revoke")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("ask its administrator"),
        "{}",
        refused.message()
    );
    let history = w
        .login_history_until(|h| {
            h.iter()
                .any(|e| !e.succeeded && e.reason == "trying again after revoke")
                && h.iter()
                    .any(|e| e.session_id == session.session_id && e.sign_out_time.is_some())
        })
        .await;
    let ended = history
        .iter()
        .find(|e| e.session_id == session.session_id)
        .unwrap();
    assert!(ended.sign_out_time.unwrap().seconds >= ended.sign_in_time.unwrap().seconds);
    let attempt = history
        .iter()
        .find(|e| !e.succeeded && e.reason == "trying again after revoke")
        .unwrap();
    assert!(!attempt.refusal.is_empty());

    // The session's actions are on the record and the chain is intact.
    let actions = w
        .suite
        .audit()
        .list_events(bearer(
            audit::ListEventsRequest {
                tenant_id: tenant_id.clone(),
                filter: Some(audit::EventFilter {
                    kinds: vec![audit::EventKind::Action as i32],
                    session_id: session.session_id.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let seen: Vec<(String, String, bool)> = actions
        .iter()
        .map(|r| {
            let e = r.event.as_ref().unwrap();
            (e.entity.clone(), e.action.clone(), e.allowed)
        })
        .collect();
    assert!(
        seen.contains(&("crm.deal".into(), "read".into(), true)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("crm.deal".into(), "change".into(), false)),
        "{seen:?}"
    );
    let verdict = w
        .suite
        .audit()
        .verify_chain(bearer(
            audit::VerifyChainRequest {
                tenant_id: tenant_id.clone(),
                full: true,
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(verdict.intact, "{verdict:?}");
    assert!(verdict.checked >= 6, "{verdict:?}");
}

#[tokio::test]
async fn another_tenants_admin_can_neither_decide_nor_read() {
    let w = World::start("Acme", identity::Locale::En).await;
    let other = w.suite.create_tenant("Globex", 3).await;
    w.set_mode(broker::SupportAccessMode::OnRequest).await;
    let request = w
        .helpdesk_requests("T-7", "investigate failing import job")
        .await;

    let err = w
        .suite
        .broker()
        .approve_access_request(bearer(
            broker::ApproveAccessRequestRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                access_request_id: request.access_request_id.clone(),
                ..Default::default()
            },
            &other.admin_token,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::PermissionDenied | Code::NotFound),
        "{err:?}"
    );

    let err = w
        .suite
        .audit()
        .list_login_history(bearer(
            audit::ListLoginHistoryRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                ..Default::default()
            },
            &other.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // The request is still pending: the refusal changed nothing.
    let still = w
        .suite
        .broker()
        .get_access_request(bearer(
            broker::GetAccessRequestRequest {
                access_request_id: request.access_request_id,
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    assert_eq!(still.state, broker::AccessRequestState::Pending as i32);
}
