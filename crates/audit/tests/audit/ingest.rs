//! IngestEvents: idempotency, who may call it, bad input, concurrency.

use crate::common::*;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn ingest_is_idempotent_by_event_id() {
    let w = world().await;
    let t = &w.tenant.tenant_id;
    let at = now();
    let evs: Vec<pb::Event> = (0..3)
        .map(|i| {
            event(
                t,
                pb::EventKind::ModeChanged,
                at + chrono::Duration::seconds(i),
            )
        })
        .collect();
    let r = ingest(&w, evs.clone()).await;
    assert_eq!((r.accepted, r.duplicates), (3, 0));

    // A retry of part of the batch plus one new event, with a duplicate inside the batch.
    let fresh = event(t, pb::EventKind::Action, at + chrono::Duration::seconds(9));
    let r = ingest(
        &w,
        vec![evs[0].clone(), evs[2].clone(), fresh.clone(), fresh.clone()],
    )
    .await;
    assert_eq!((r.accepted, r.duplicates), (1, 3));

    let listed = w
        .suite
        .audit()
        .list_events(bearer(
            pb::ListEventsRequest {
                tenant_id: t.clone(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let seqs: Vec<i64> = listed.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let ids: Vec<&str> = listed
        .iter()
        .map(|e| e.event.as_ref().unwrap().event_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            &evs[0].event_id,
            &evs[1].event_id,
            &evs[2].event_id,
            &fresh.event_id
        ]
    );
    assert_eq!(listed[3].hash.len(), 64);
    let v = verify(&w, t, &w.tenant.admin_token).await;
    assert!(v.intact, "{}", v.problem);
    assert_eq!(v.checked, 4);
}

#[tokio::test]
async fn ingest_needs_a_service_account_with_the_write_scope() {
    let w = world().await;
    let req = || pb::IngestEventsRequest {
        events: vec![event(&w.tenant.tenant_id, pb::EventKind::Action, now())],
    };

    let err = w.suite.audit().ingest_events(req()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(
        err.message().contains("missing bearer token"),
        "{}",
        err.message()
    );

    let err = w
        .suite
        .audit()
        .ingest_events(bearer(req(), "not-a-jwt"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // An admin is not a producer.
    let err = w
        .suite
        .audit()
        .ingest_events(bearer(req(), &w.tenant.admin_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("audit.events.write"),
        "{}",
        err.message()
    );

    // A service account with no audit scope: its token is not even meant
    // for audit (its audience names identity only).
    let (_, reader) = w
        .suite
        .create_service_account("reader", &["identity.contacts.read"])
        .await;
    let err = w
        .suite
        .audit()
        .ingest_events(bearer(req(), &reader))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("audience"), "{}", err.message());
}

#[tokio::test]
async fn malformed_events_are_refused_whole() {
    let w = world().await;
    let t = &w.tenant.tenant_id;
    let call = |events: Vec<pb::Event>| {
        let mut c = w.suite.audit();
        let token = w.producer.clone();
        async move {
            c.ingest_events(bearer(pb::IngestEventsRequest { events }, &token))
                .await
                .unwrap_err()
        }
    };
    let mut no_kind = event(t, pb::EventKind::Action, now());
    no_kind.kind = 0;
    let err = call(vec![event(t, pb::EventKind::Action, now()), no_kind]).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("event 1: kind"), "{}", err.message());

    let mut no_id = event(t, pb::EventKind::Action, now());
    no_id.event_id = String::new();
    let err = call(vec![no_id]).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("event_id is required"),
        "{}",
        err.message()
    );

    let mut no_time = event(t, pb::EventKind::Action, now());
    no_time.occur_time = None;
    let err = call(vec![no_time]).await;
    assert!(
        err.message().contains("occur_time is required"),
        "{}",
        err.message()
    );

    let many = (0..501)
        .map(|_| event(t, pb::EventKind::Action, now()))
        .collect();
    let err = call(many).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("at most 500"), "{}", err.message());

    // Ids are ids and labels are one line: not only length-checked.
    let field = |e: &tonic::Status| {
        e.get_details_bad_request()
            .map(|b| b.field_violations[0].field.clone())
    };
    let mut nul_tenant = event(t, pb::EventKind::Action, now());
    nul_tenant.tenant_id = format!("{t}\0");
    let err = call(vec![event(t, pb::EventKind::Action, now()), nul_tenant]).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "event 1: tenant_id may contain only letters, digits and - _ . :"
    );
    assert_eq!(field(&err).as_deref(), Some("events[1].tenant_id"));
    let mut bidi_action = event(t, pb::EventKind::Action, now());
    bidi_action.action = "delete \u{202E}fdp.exe".into();
    let err = call(vec![bidi_action]).await;
    assert_eq!(
        err.message(),
        "event 0: action must not contain bidirectional text controls"
    );
    assert_eq!(field(&err).as_deref(), Some("events[0].action"));
    let mut bell_reason = event(t, pb::EventKind::Action, now());
    bell_reason.reason = "ring\u{7}".into();
    let err = call(vec![bell_reason]).await;
    assert_eq!(
        err.message(),
        "event 0: reason must not contain control characters"
    );

    // Nothing of the refused batches was stored.
    let v = verify(&w, t, &w.tenant.admin_token).await;
    assert_eq!(v.checked, 0);
}

#[tokio::test]
async fn concurrent_ingests_never_fork_the_chain() {
    let w = world().await;
    let t = w.tenant.tenant_id.clone();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let mut client = w.suite.audit();
        let token = w.producer.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..5 {
                let e = event(
                    &t,
                    pb::EventKind::Action,
                    now() + chrono::Duration::seconds(i * 10 + j),
                );
                let r = client
                    .ingest_events(bearer(pb::IngestEventsRequest { events: vec![e] }, &token))
                    .await
                    .expect("concurrent ingest")
                    .into_inner();
                assert_eq!(r.accepted, 1);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let v = verify(&w, &t, &w.tenant.admin_token).await;
    assert!(v.intact, "{}", v.problem);
    assert_eq!(v.checked, 30);
    assert_eq!(v.checkpoint_sequence, 30);
}

#[tokio::test]
async fn identity_events_and_several_tenants_in_one_batch() {
    let w = world().await;
    let other = w.suite.create_tenant("Other Co", 5).await;
    let mut changed = event(&w.tenant.tenant_id, pb::EventKind::IdentityChanged, now());
    changed.source = "identity".into();
    changed.actor = Some(actor(
        "admin-1",
        "employee",
        "Carl Chief",
        "carl@customer.example",
    ));
    changed.attributes = [("change".to_string(), "admin_appointed".to_string())]
        .into_iter()
        .collect();
    let r = ingest(
        &w,
        vec![
            changed.clone(),
            event(&other.tenant_id, pb::EventKind::ModeChanged, now()),
        ],
    )
    .await;
    assert_eq!(r.accepted, 2);
    let listed = w
        .suite
        .audit()
        .list_events(bearer(
            pb::ListEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(listed.len(), 1);
    let got = listed[0].event.clone().unwrap();
    assert_eq!(got, changed);
    // Each tenant has its own chain starting at 1.
    let v = verify(&w, &other.tenant_id, &other.admin_token).await;
    assert_eq!((v.intact, v.checked), (true, 1));
}
