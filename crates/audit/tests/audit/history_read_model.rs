//! The login history's read model and its keyset pages: the same entries
//! the old join over the events gave, every entry once and in order while
//! the log grows, and page tokens that only fit their own listing.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use keyholder_audit::domain::event::Kind;
use keyholder_audit::domain::history;
use keyholder_audit::store::events::EventQuery;
use keyholder_audit::store::sign_ins::LoginQuery;
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::bearer;
use sea_orm::ConnectionTrait;

fn sign_out(
    tenant: &str,
    at: chrono::DateTime<chrono::Utc>,
    session: &str,
    why: &str,
) -> pb::Event {
    let mut e = event(tenant, pb::EventKind::SignOut, at);
    e.session_id = session.into();
    e.agent = Some(agent_ann());
    if !why.is_empty() {
        e.attributes = [("end_reason".to_string(), why.to_string())]
            .into_iter()
            .collect();
    } else {
        e.reason = "session ended".into();
    }
    e
}

fn refused(tenant: &str, at: chrono::DateTime<chrono::Utc>) -> pb::Event {
    let mut e = event(tenant, pb::EventKind::SignInRefused, at);
    e.agent = Some(actor(
        "agent-bob",
        "support_agent",
        "Bob Agent",
        "bob@vendor.example",
    ));
    e.attributes = [("refusal".to_string(), "no approved request".to_string())]
        .into_iter()
        .collect();
    e
}

/// What the old query (sign-in events by time, joined with their sessions'
/// sign-outs) returns for the tenant.
async fn old_history(w: &World) -> Vec<history::LoginEntry> {
    let store = &w.audit.store;
    let t = &w.tenant.tenant_id;
    let q = EventQuery {
        kinds: vec![Kind::SignIn, Kind::SignInRefused],
        ..EventQuery::default()
    };
    let rows = store
        .login_events(
            t,
            &q,
            Page {
                limit: 500,
                offset: 0,
            },
        )
        .await
        .unwrap();
    let parse = |m: &keyholder_audit::store::entities::event::Model| {
        keyholder_audit::domain::event::NewEvent::from_canonical(&m.content)
            .unwrap()
            .1
    };
    let entries: Vec<_> = rows.iter().map(parse).collect();
    let sessions = entries
        .iter()
        .map(|e| e.session_id.clone())
        .filter(|s| !s.is_empty())
        .collect();
    let outs = store
        .sign_outs(t, sessions)
        .await
        .unwrap()
        .iter()
        .map(parse)
        .collect();
    history::build(entries, outs)
}

async fn new_history(w: &World) -> Vec<history::LoginEntry> {
    w.audit
        .store
        .login_page(&w.tenant.tenant_id, &LoginQuery::default(), None, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

#[tokio::test]
async fn the_read_model_equals_the_old_join_and_survives_a_back_fill() {
    let w = world().await;
    let t = &w.tenant.tenant_id;
    let t0 = now() - Duration::hours(5);
    // A sign-out that arrives before its sign-in (another call), a revoked
    // session, a repeated sign-out, one ended with only a reason, a refused
    // attempt, a session still open.
    ingest(
        &w,
        vec![sign_out(
            t,
            t0 + Duration::minutes(50),
            "s-early",
            "signed out",
        )],
    )
    .await;
    ingest(
        &w,
        vec![
            sign_in(t, t0, "s-early"),
            sign_in(t, t0 + Duration::minutes(60), "s-revoked"),
            refused(t, t0 + Duration::minutes(61)),
            sign_out(t, t0 + Duration::minutes(70), "s-revoked", "revoked"),
            sign_out(t, t0 + Duration::minutes(75), "s-revoked", "signed out"),
            sign_in(t, t0 + Duration::minutes(80), "s-reason"),
        ],
    )
    .await;
    ingest(
        &w,
        vec![
            sign_out(t, t0 + Duration::minutes(90), "s-reason", ""),
            sign_in(t, t0 + Duration::minutes(100), "s-open"),
            // Same time as the one before: the sequence orders them.
            sign_in(t, t0 + Duration::minutes(100), "s-open-2"),
        ],
    )
    .await;
    let old = old_history(&w).await;
    assert_eq!(old.len(), 6);
    assert_eq!(new_history(&w).await, old);
    let revoked = old.iter().find(|e| e.session_id == "s-revoked").unwrap();
    assert_eq!(revoked.end_reason, "revoked");
    let early = old.iter().find(|e| e.session_id == "s-early").unwrap();
    assert_eq!(early.end_reason, "signed out");
    assert_eq!(
        old.iter()
            .find(|e| e.session_id == "s-reason")
            .unwrap()
            .end_reason,
        "session ended"
    );

    // The service answers the same.
    let h = w
        .suite
        .audit()
        .list_login_history(bearer(
            pb::ListLoginHistoryRequest {
                tenant_id: t.clone(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let sessions: Vec<_> = h.entries.iter().map(|e| e.session_id.as_str()).collect();
    assert_eq!(
        sessions,
        ["s-open-2", "s-open", "s-reason", "", "s-revoked", "s-early"]
    );

    // The migration back-fills the same rows from the events alone.
    let db = w.audit.store.connection();
    db.execute_unprepared("DELETE FROM audit_sign_ins")
        .await
        .unwrap();
    assert_eq!(new_history(&w).await, []);
    keyholder_audit::migrations::backfill_login_history(db)
        .await
        .unwrap();
    assert_eq!(new_history(&w).await, old);
}

#[tokio::test]
async fn keyset_pages_cover_every_entry_once_in_order_while_the_log_grows() {
    let w = world().await;
    let t = w.tenant.tenant_id.clone();
    let t0 = now() - Duration::days(2);
    // 40 entries, pairs sharing a time.
    let first: Vec<_> = (0..40)
        .map(|i| sign_in(&t, t0 + Duration::minutes(i / 2), &format!("s-{i}")))
        .collect();
    ingest(&w, first).await;
    let mut seen: Vec<pb::LoginHistoryEntry> = Vec::new();
    let mut token = String::new();
    let mut round = 0;
    loop {
        let page = w
            .suite
            .audit()
            .list_login_history(bearer(
                pb::ListLoginHistoryRequest {
                    tenant_id: t.clone(),
                    page_size: 7,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &w.tenant.admin_token,
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        // Appends between pages: newer sign-ins (above the pages already
        // read) must not shift the rest by one.
        round += 1;
        ingest(
            &w,
            vec![sign_in(
                &t,
                now() + Duration::minutes(round),
                &format!("new-{round}"),
            )],
        )
        .await;
    }
    let ids: Vec<&str> = seen.iter().map(|e| e.session_id.as_str()).collect();
    let mut want: Vec<String> = (0..40).rev().map(|i| format!("s-{i}")).collect();
    // Equal times come newest-appended first.
    want.sort_by_key(|s| std::cmp::Reverse(s[2..].parse::<i64>().unwrap()));
    assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(round >= 5);
}

#[tokio::test]
async fn page_tokens_fit_only_their_listing() {
    let w = world().await;
    let t = w.tenant.tenant_id.clone();
    let t0 = now() - Duration::hours(1);
    ingest(
        &w,
        (0..3)
            .map(|i| sign_in(&t, t0 + Duration::minutes(i), &format!("s-{i}")))
            .collect(),
    )
    .await;
    let list = |page_token: String, exclude_refused: bool| {
        let mut c = w.suite.audit();
        let token = w.tenant.admin_token.clone();
        let t = t.clone();
        async move {
            c.list_login_history(bearer(
                pb::ListLoginHistoryRequest {
                    tenant_id: t,
                    page_size: 1,
                    page_token,
                    exclude_refused,
                    ..Default::default()
                },
                &token,
            ))
            .await
        }
    };
    let first = list(String::new(), false).await.unwrap().into_inner();
    assert_eq!(first.entries.len(), 1);
    let next = first.next_page_token.clone();
    assert!(list(next.clone(), false).await.is_ok());
    // The same token for other filters.
    let e = list(next.clone(), true).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().contains("not valid for this listing"),
        "{}",
        e.message()
    );
    // Edited.
    let mut raw = String::from_utf8(URL_SAFE_NO_PAD.decode(&next).unwrap()).unwrap();
    raw = raw.replacen(":", ":9", 1);
    let e = list(URL_SAFE_NO_PAD.encode(raw), false).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    // An offset token of the earlier release.
    let e = list(URL_SAFE_NO_PAD.encode("o:1:5d2e9c1a"), false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("earlier version"), "{}", e.message());
    assert!(
        e.message().contains("without a page_token"),
        "{}",
        e.message()
    );
}
