//! Queries: tenant confinement, login history, filters and paging.

use crate::common::*;
use chrono::Duration;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn every_query_is_confined_to_the_callers_tenant() {
    let w = world().await;
    let b = w.suite.create_tenant("Beta Ltd", 5).await;
    ingest(&w, vec![sign_in(&b.tenant_id, now(), "s-b")]).await;
    let employee = w
        .suite
        .create_employee(&w.tenant, "emp@customer.example", false)
        .await;
    let agent = w.suite.create_agent("Ann Agent").await;
    let mut c = w.suite.audit();
    let tb = b.tenant_id.clone();

    for (token, code, words) in [
        (
            w.tenant.admin_token.as_str(),
            Code::PermissionDenied,
            "not a member",
        ),
        (
            employee.token.as_str(),
            Code::PermissionDenied,
            "not a member",
        ),
        (agent.token.as_str(), Code::PermissionDenied, "not a member"),
        (w.producer.as_str(), Code::PermissionDenied, "not a member"),
    ] {
        let e = c
            .list_login_history(bearer(
                pb::ListLoginHistoryRequest {
                    tenant_id: tb.clone(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.message().contains(words)),
            (code, true),
            "{e:?}"
        );
        let e = c
            .list_events(bearer(
                pb::ListEventsRequest {
                    tenant_id: tb.clone(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code);
        let e = c
            .export_events(bearer(
                pb::ExportEventsRequest {
                    tenant_id: tb.clone(),
                    format: pb::ExportFormat::Csv as i32,
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code);
        let e = c
            .verify_chain(bearer(
                pb::VerifyChainRequest {
                    tenant_id: tb.clone(),
                    full: false,
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code);
        let e = c
            .list_notifications(bearer(
                pb::ListNotificationsRequest {
                    tenant_id: tb.clone(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code);
    }

    // A non-admin of its own tenant is refused too.
    let e = c
        .list_events(bearer(
            pb::ListEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                ..Default::default()
            },
            &employee.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("only an administrator"),
        "{}",
        e.message()
    );

    // No token at all.
    let e = c
        .list_login_history(pb::ListLoginHistoryRequest {
            tenant_id: tb.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // B's admin sees B's entry; the operator may verify any chain.
    let h = c
        .list_login_history(bearer(
            pb::ListLoginHistoryRequest {
                tenant_id: tb.clone(),
                ..Default::default()
            },
            &b.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.entries.len(), 1);
    let op = w.suite.operator_token().await;
    let v = verify(&w, &tb, &op).await;
    assert!(v.intact);
    assert_eq!(v.checked, 1);
}

#[tokio::test]
async fn login_history_has_every_field() {
    let w = world().await;
    let t = &w.tenant.tenant_id;
    let t0 = now() - Duration::hours(3);
    let first = sign_in(t, t0, "sess-1");
    let mut out = event(t, pb::EventKind::SignOut, t0 + Duration::minutes(42));
    out.session_id = "sess-1".into();
    out.agent = Some(agent_ann());
    out.attributes = [("end_reason".to_string(), "signed out".to_string())]
        .into_iter()
        .collect();
    let mut refused = event(t, pb::EventKind::SignInRefused, t0 + Duration::hours(1));
    refused.agent = Some(actor(
        "agent-bob",
        "support_agent",
        "Bob Agent",
        "bob@vendor.example",
    ));
    refused.reason = "look at the invoice".into();
    refused.ticket_ref = "HD-5000".into();
    refused.attributes = [(
        "refusal".to_string(),
        "no approved request for this tenant".to_string(),
    )]
    .into_iter()
    .collect();
    let second = sign_in(t, t0 + Duration::hours(2), "sess-2");
    ingest(&w, vec![first.clone(), out, refused, second]).await;

    let list = |req: pb::ListLoginHistoryRequest| {
        let mut c = w.suite.audit();
        let token = w.tenant.admin_token.clone();
        async move {
            c.list_login_history(bearer(req, &token))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let h = list(pb::ListLoginHistoryRequest {
        tenant_id: t.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(h.entries.len(), 3);
    // Newest first: the open session, the refusal, the finished session.
    let (open, no, done) = (&h.entries[0], &h.entries[1], &h.entries[2]);
    assert_eq!(open.session_id, "sess-2");
    assert!(open.succeeded);
    assert_eq!(open.sign_out_time, None);

    assert!(!no.succeeded);
    assert_eq!(no.session_id, "");
    assert_eq!(no.refusal, "no approved request for this tenant");
    assert_eq!(no.reason, "look at the invoice");
    assert_eq!(no.accessed_by.as_ref().unwrap().display_name, "Bob Agent");

    assert_eq!(
        done,
        &pb::LoginHistoryEntry {
            session_id: "sess-1".into(),
            accessed_by: Some(agent_ann()),
            sign_in_time: Some(ts(t0)),
            sign_out_time: Some(ts(t0 + Duration::minutes(42))),
            reason: "customer cannot import leads".into(),
            granted_by: first.granted_by.clone(),
            ticket_ref: "HD-4711".into(),
            grant_id: "grant-1".into(),
            succeeded: true,
            refusal: String::new(),
            end_reason: "signed out".into(),
        }
    );

    // Filters: one agent, refused left out, a time window; paging.
    let h = list(pb::ListLoginHistoryRequest {
        tenant_id: t.clone(),
        agent_id: "agent-bob".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(h.entries.len(), 1);
    assert!(!h.entries[0].succeeded);
    let h = list(pb::ListLoginHistoryRequest {
        tenant_id: t.clone(),
        exclude_refused: true,
        ..Default::default()
    })
    .await;
    assert!(h.entries.iter().all(|e| e.succeeded));
    assert_eq!(h.entries.len(), 2);
    let h = list(pb::ListLoginHistoryRequest {
        tenant_id: t.clone(),
        start_time: Some(ts(t0 + Duration::minutes(30))),
        end_time: Some(ts(t0 + Duration::minutes(90))),
        ..Default::default()
    })
    .await;
    assert_eq!(h.entries.len(), 1);
    let p1 = list(pb::ListLoginHistoryRequest {
        tenant_id: t.clone(),
        page_size: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(p1.entries.len(), 2);
    assert!(!p1.next_page_token.is_empty());
    let p2 = list(pb::ListLoginHistoryRequest {
        tenant_id: t.clone(),
        page_size: 2,
        page_token: p1.next_page_token.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(p2.entries.len(), 1);
    assert_eq!(p2.entries[0].session_id, "sess-1");
    assert!(p2.next_page_token.is_empty());
}

pub(crate) async fn seed_actions(w: &World) -> chrono::DateTime<chrono::Utc> {
    let t = &w.tenant.tenant_id;
    let t0 = now() - Duration::hours(1);
    let mut evs = vec![sign_in(t, t0, "sess-1")];
    for i in 0..5 {
        let mut a = event(t, pb::EventKind::Action, t0 + Duration::minutes(i + 1));
        a.session_id = "sess-1".into();
        a.grant_id = "grant-1".into();
        a.agent = Some(agent_ann());
        a.entity = "crm.deal".into();
        a.action = if i % 2 == 0 { "read" } else { "change" }.into();
        a.allowed = i != 4;
        a.reason = "customer cannot import leads".into();
        evs.push(a);
    }
    let mut other = event(t, pb::EventKind::Action, t0 + Duration::minutes(10));
    other.session_id = "sess-9".into();
    other.agent = Some(actor(
        "agent-bob",
        "support_agent",
        "Bob Agent",
        "bob@vendor.example",
    ));
    other.entity = "crm.lead, \"quoted\"".into();
    other.action = "read".into();
    evs.push(other);
    ingest(w, evs).await;
    t0
}

#[tokio::test]
async fn list_events_filters_and_pages() {
    let w = world().await;
    let t0 = seed_actions(&w).await;
    let t = w.tenant.tenant_id.clone();
    let list = |filter: pb::EventFilter, page_size: i32, page_token: String| {
        let mut c = w.suite.audit();
        let token = w.tenant.admin_token.clone();
        let t = t.clone();
        async move {
            c.list_events(bearer(
                pb::ListEventsRequest {
                    tenant_id: t,
                    filter: Some(filter),
                    page_size,
                    page_token,
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
        }
    };
    let seqs = |r: &pb::ListEventsResponse| r.events.iter().map(|e| e.sequence).collect::<Vec<_>>();

    let all = list(pb::EventFilter::default(), 0, String::new()).await;
    assert_eq!(seqs(&all), vec![1, 2, 3, 4, 5, 6, 7]);
    let session = list(
        pb::EventFilter {
            session_id: "sess-1".into(),
            kinds: vec![pb::EventKind::Action as i32],
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert_eq!(seqs(&session), vec![2, 3, 4, 5, 6]);
    let bob = list(
        pb::EventFilter {
            agent_id: "agent-bob".into(),
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert_eq!(seqs(&bob), vec![7]);
    let grant = list(
        pb::EventFilter {
            grant_id: "grant-1".into(),
            kinds: vec![pb::EventKind::SignIn as i32],
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert_eq!(seqs(&grant), vec![1]);
    let window = list(
        pb::EventFilter {
            start_time: Some(ts(t0 + Duration::minutes(2))),
            end_time: Some(ts(t0 + Duration::minutes(4))),
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert_eq!(seqs(&window), vec![3, 4]);

    // Paging walks the whole log exactly once.
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = list(pb::EventFilter::default(), 3, token).await;
        assert!(page.events.len() <= 3);
        seen.extend(seqs(&page));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5, 6, 7]);

    // Bad input.
    let mut c = w.suite.audit();
    let e = c
        .list_events(bearer(
            pb::ListEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                page_token: "garbage!".into(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .list_events(bearer(
            pb::ListEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                filter: Some(pb::EventFilter {
                    start_time: Some(ts(t0)),
                    end_time: Some(ts(t0 - Duration::hours(1))),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("start_time"), "{}", e.message());
}
