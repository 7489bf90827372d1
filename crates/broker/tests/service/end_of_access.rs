//! Expiry and extension, driven by moving the broker's ManualClock and calling
//! the sweeper directly — no sleeping for time to pass.

use crate::common::*;
use chrono::Duration;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn pending_requests_get_a_reminder_then_expire() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-20", read_only()).await;
    let ttl = req.expire_time.unwrap().seconds - req.create_time.unwrap().seconds;
    assert_eq!(ttl, 24 * 3600);

    ctx.suite.clock.advance(Duration::hours(20));
    ctx.broker.handle.sweep_once().await.unwrap();
    ctx.broker.handle.sweep_once().await.unwrap();
    assert!(
        eventually(|| async { !ctx.received.of_kind(EventKind::RequestExpiring).is_empty() }).await
    );

    ctx.suite.clock.advance(Duration::hours(5));
    ctx.broker.handle.sweep_once().await.unwrap();
    let r = ctx
        .broker()
        .get_access_request(bearer(
            pb::GetAccessRequestRequest {
                access_request_id: req.access_request_id.clone(),
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    assert_eq!(r.state, pb::AccessRequestState::Expired as i32);
    let e = ctx
        .broker()
        .approve_access_request(bearer(
            pb::ApproveAccessRequestRequest {
                access_request_id: req.access_request_id.clone(),
                ..Default::default()
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, &["expired"]);
    assert!(
        eventually(|| async { ctx.received.of_kind(EventKind::RequestExpired).len() == 1 }).await
    );
    // One reminder and one expiry, however many sweeps ran.
    ctx.broker.handle.sweep_once().await.unwrap();
    assert_eq!(ctx.received.of_kind(EventKind::RequestExpiring).len(), 1);
}

#[tokio::test]
async fn an_expired_grant_ends_its_session_and_refuses_sign_in() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-21", read_only()).await;
    let approved = ctx
        .broker()
        .approve_access_request(bearer(
            pb::ApproveAccessRequestRequest {
                access_request_id: req.access_request_id.clone(),
                duration: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
                ..Default::default()
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap()
        .into_inner();
    let g = approved.grant.unwrap();
    let c = ctx.credential(&g.grant_id).await;
    let s = ctx.sign_in(&c).await.unwrap();
    let mut broker = ctx.broker();
    assert!(
        ctx.check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
            .await
            .allowed
    );

    ctx.suite.clock.advance(Duration::minutes(61));
    // The backend's own token has expired by now too: it gets a new one.
    let backend = ctx.backend_token().await;
    // Even before the sweeper runs, the grant's end is enforced.
    let late = ctx
        .check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(!late.allowed);
    ctx.broker.handle.sweep_once().await.unwrap();
    let e = ctx.sign_in(&c).await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, &["not granted", "expired"]);
    let g = broker
        .get_grant(bearer(
            pb::GetGrantRequest {
                grant_id: g.grant_id.clone(),
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(g.state, pb::GrantState::Expired as i32);
    let refresh = broker
        .refresh_support_session(pb::RefreshSupportSessionRequest {
            refresh_token: s.refresh_token.clone(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            refresh.code(),
            Code::Unauthenticated | Code::PermissionDenied
        ),
        "{refresh:?}"
    );
    assert!(
        eventually(|| async {
            ctx.received.of_kind(EventKind::GrantExpired).len() == 1
                && ctx
                    .received
                    .of_kind(EventKind::SignOut)
                    .iter()
                    .any(|e| e.attributes.get("end_reason").map(String::as_str) == Some("expired"))
        })
        .await
    );
}

#[tokio::test]
async fn admins_extend_within_the_ceiling() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-22", read_only()).await;
    let g = ctx.approve(&req.access_request_id).await;
    let end = g.expire_time.unwrap().seconds;
    let created = g.create_time.unwrap().seconds;
    let extend = |secs: i64, token: String| {
        let mut b = ctx.broker();
        let id = g.grant_id.clone();
        async move {
            b.extend_grant(bearer(
                pb::ExtendGrantRequest {
                    request_id: String::new(),
                    grant_id: id,
                    expire_time: Some(prost_types::Timestamp {
                        seconds: secs,
                        nanos: 0,
                    }),
                },
                &token,
            ))
            .await
        }
    };
    let ok = extend(end + 86400, ctx.tenant.admin_token.clone())
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(ok.expire_time.unwrap().seconds, end + 86400);
    let e = extend(created + 31 * 86400, ctx.tenant.admin_token.clone())
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, &["at most 30 days"]);
    let e = extend(end + 2 * 86400, ctx.agent.token.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        eventually(|| async { ctx.received.of_kind(EventKind::GrantExtended).len() == 1 }).await
    );
}

#[tokio::test]
async fn a_grant_ending_soon_is_noticed_once_per_end_even_after_a_restart() {
    let ctx = Ctx::new().await;
    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let req = ctx.request("T-30", read_only()).await;
    let g = ctx.approve(&req.access_request_id).await;
    let end = g.expire_time.unwrap().seconds;
    let noticed = || ctx.received.of_kind(EventKind::GrantEnding);

    // Not before the last hour.
    ctx.suite
        .clock
        .set(chrono::DateTime::from_timestamp(end - 3601, 0).unwrap());
    assert_eq!(
        ctx.broker.handle.sweep_once().await.unwrap().ending_noticed,
        0
    );

    // Within it: once, however many sweeps and brokers, and after a restart
    // (a new broker process on the same database).
    ctx.suite
        .clock
        .set(chrono::DateTime::from_timestamp(end - 3599, 0).unwrap());
    ctx.broker.handle.sweep_once().await.unwrap();
    let restarted = ctx.suite.start_another_broker().await;
    assert_eq!(
        restarted.handle.sweep_once().await.unwrap().ending_noticed,
        0
    );
    ctx.broker.handle.sweep_once().await.unwrap();
    assert!(eventually(|| async { noticed().len() == 1 }).await);
    let e = &noticed()[0];
    assert_eq!(e.grant_id, g.grant_id);
    assert_eq!(e.expire_time.as_ref().unwrap().seconds, end);
    assert_eq!(
        e.granted_by.as_ref().unwrap().actor_id,
        ctx.tenant.chief_admin_id
    );
    assert_eq!(e.agent.as_ref().unwrap().actor_id, ctx.agent.agent_id);

    // An extension is a new end, with a notice of its own before it.
    let new_end = end + 86_400;
    ctx.broker()
        .extend_grant(bearer(
            pb::ExtendGrantRequest {
                request_id: String::new(),
                grant_id: g.grant_id.clone(),
                expire_time: Some(prost_types::Timestamp {
                    seconds: new_end,
                    nanos: 0,
                }),
            },
            &ctx.suite.admin_token(&ctx.tenant).await,
        ))
        .await
        .unwrap();
    ctx.broker.handle.sweep_once().await.unwrap();
    ctx.suite
        .clock
        .set(chrono::DateTime::from_timestamp(new_end - 1800, 0).unwrap());
    restarted.handle.sweep_once().await.unwrap();
    ctx.broker.handle.sweep_once().await.unwrap();
    assert!(eventually(|| async { noticed().len() == 2 }).await);
    assert_eq!(noticed()[1].expire_time.as_ref().unwrap().seconds, new_end);
}
