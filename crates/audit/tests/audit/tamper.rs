//! Tampering with the log directly in the database is caught and named.

use crate::common::*;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::TenantFixture;
use sea_orm::ConnectionTrait;

async fn seeded_tenant(w: &World, name: &str) -> TenantFixture {
    let t = w.suite.create_tenant(name, 5).await;
    let evs = (1..=6)
        .map(|i| {
            let mut e = event(
                &t.tenant_id,
                pb::EventKind::Action,
                now() + chrono::Duration::seconds(i),
            );
            e.reason = format!("reason-{i}");
            e
        })
        .collect();
    ingest(w, evs).await;
    let v = verify(w, &t.tenant_id, &t.admin_token).await;
    assert!(v.intact, "{}", v.problem);
    assert_eq!((v.checked, v.checkpoint_sequence), (6, 6));
    t
}

async fn sql(w: &World, statements: &[String]) {
    let db = w.audit.store.connection();
    for s in statements {
        db.execute_unprepared(s).await.expect(s);
    }
}

#[tokio::test]
async fn edited_deleted_reordered_and_truncated_rows_are_caught() {
    let w = world().await;

    // Edited: one row's content changed.
    let t = seeded_tenant(&w, "Edited").await;
    sql(&w, &[format!(
        "UPDATE audit_events SET content = REPLACE(content, 'reason-3', 'nothing to see') WHERE tenant_id = '{}' AND sequence = 3",
        t.tenant_id
    )])
    .await;
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert!(!v.intact);
    assert_eq!(v.first_broken_sequence, 3);
    assert!(v.problem.contains("edited"), "{}", v.problem);

    // Edited: only a filter column changed (the hashed content left alone).
    let t = seeded_tenant(&w, "Recolumned").await;
    sql(
        &w,
        &[format!(
            "UPDATE audit_events SET kind = 'MODE_CHANGED' WHERE tenant_id = '{}' AND sequence = 4",
            t.tenant_id
        )],
    )
    .await;
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert_eq!(v.first_broken_sequence, 4);
    assert!(v.problem.contains("columns disagree"), "{}", v.problem);

    // Deleted: a row in the middle.
    let t = seeded_tenant(&w, "Deleted").await;
    sql(
        &w,
        &[format!(
            "DELETE FROM audit_events WHERE tenant_id = '{}' AND sequence = 2",
            t.tenant_id
        )],
    )
    .await;
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert_eq!(v.first_broken_sequence, 2);
    assert!(v.problem.contains("missing"), "{}", v.problem);
    assert_eq!(v.checked, 1);

    // Reordered: rows 3 and 4 swap places.
    let t = seeded_tenant(&w, "Reordered").await;
    let id = &t.tenant_id;
    sql(
        &w,
        &[
            format!(
                "UPDATE audit_events SET sequence = -1 WHERE tenant_id = '{id}' AND sequence = 3"
            ),
            format!(
                "UPDATE audit_events SET sequence = 3 WHERE tenant_id = '{id}' AND sequence = 4"
            ),
            format!(
                "UPDATE audit_events SET sequence = 4 WHERE tenant_id = '{id}' AND sequence = -1"
            ),
        ],
    )
    .await;
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert_eq!(v.first_broken_sequence, 3);
    assert!(v.problem.contains("reordered"), "{}", v.problem);

    // Truncated: the last two rows removed and the head wound back to match,
    // so only the signed checkpoint still knows.
    let t = seeded_tenant(&w, "Truncated").await;
    let id = &t.tenant_id;
    sql(&w, &[
        format!("DELETE FROM audit_events WHERE tenant_id = '{id}' AND sequence > 4"),
        format!(
            "UPDATE audit_chain_heads SET sequence = 4, hash = (SELECT hash FROM audit_events WHERE tenant_id = '{id}' AND sequence = 4) WHERE tenant_id = '{id}'"
        ),
    ])
    .await;
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert!(!v.intact);
    assert_eq!(v.first_broken_sequence, 5);
    assert!(v.problem.contains("truncated"), "{}", v.problem);
    assert_eq!(v.checkpoint_sequence, 6);
    assert_eq!(v.checked, 4);

    // A forged checkpoint signature is caught as well.
    let t = seeded_tenant(&w, "Forged").await;
    sql(
        &w,
        &[format!(
            "UPDATE audit_checkpoints SET sequence = 5 WHERE tenant_id = '{}'",
            t.tenant_id
        )],
    )
    .await;
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert_eq!(v.first_broken_sequence, 5);
    assert!(v.problem.contains("invalid signature"), "{}", v.problem);

    // Untouched tenants still verify.
    let ok = seeded_tenant(&w, "Untouched").await;
    let v = verify(&w, &ok.tenant_id, &ok.admin_token).await;
    assert!(v.intact);
}

#[tokio::test]
async fn the_log_is_kept_after_more_appends_and_checkpoints_advance() {
    let w = world().await;
    let t = &w.tenant.tenant_id;
    ingest(&w, vec![sign_in(t, now(), "s1")]).await;
    let v = verify(&w, t, &w.tenant.admin_token).await;
    assert_eq!((v.intact, v.checkpoint_sequence), (true, 1));
    let mut out = event(t, pb::EventKind::GrantExpired, now());
    out.grant_id = "grant-1".into();
    ingest(&w, vec![out]).await;
    let v = verify(&w, t, &w.tenant.admin_token).await;
    assert_eq!((v.intact, v.checked, v.checkpoint_sequence), (true, 2, 2));
}

#[tokio::test]
async fn periodic_checkpoints_sign_only_an_intact_chain() {
    let w = world().await;
    let t = w.tenant.tenant_id.clone();
    let batch = |n: i64| {
        (0..n)
            .map(|i| {
                let mut e = event(
                    &t,
                    pb::EventKind::Action,
                    now() + chrono::Duration::seconds(i),
                );
                e.reason = format!("reason-{i}");
                e
            })
            .collect::<Vec<_>>()
    };
    ingest(&w, batch(3)).await;
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 1);
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 0);
    ingest(&w, batch(2)).await;
    sql(&w, &[format!(
        "UPDATE audit_events SET content = REPLACE(content, 'reason-1', 'changed') WHERE tenant_id = '{t}' AND sequence = 5"
    )])
    .await;
    // The new rows do not link up: nothing is signed over them.
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 0);
    let v = verify(&w, &t, &w.tenant.admin_token).await;
    assert_eq!(
        (v.intact, v.first_broken_sequence, v.checkpoint_sequence),
        (false, 5, 3)
    );
}

fn actions(tenant: &str, n: i64) -> Vec<pb::Event> {
    (0..n)
        .map(|i| {
            let mut e = event(
                tenant,
                pb::EventKind::Action,
                now() + chrono::Duration::seconds(i),
            );
            e.reason = format!("reason-{i}");
            e
        })
        .collect()
}

async fn latest_checkpoint(w: &World, tenant: &str) -> i64 {
    w.audit
        .store
        .latest_checkpoint(tenant)
        .await
        .unwrap()
        .map(|c| c.sequence)
        .unwrap_or(0)
}

#[tokio::test]
async fn a_checkpoint_is_signed_once_a_tenant_has_enough_new_events() {
    let w = world_with(
        |s| s.config.audit.checkpoint_events = 5,
        keyholder_audit::AuditOptions {
            manual_mail: true,
            ..Default::default()
        },
    )
    .await;
    let t = w.tenant.tenant_id.clone();
    ingest(&w, actions(&t, 4)).await;
    assert_eq!(latest_checkpoint(&w, &t).await, 0);
    ingest(&w, actions(&t, 1)).await;
    assert_eq!(latest_checkpoint(&w, &t).await, 5);
    ingest(&w, actions(&t, 3)).await;
    assert_eq!(latest_checkpoint(&w, &t).await, 5);
    // The timer's pass covers the rest; the count starts again after it.
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 1);
    assert_eq!(latest_checkpoint(&w, &t).await, 8);
    ingest(&w, actions(&t, 4)).await;
    assert_eq!(latest_checkpoint(&w, &t).await, 8);
    ingest(&w, actions(&t, 1)).await;
    assert_eq!(latest_checkpoint(&w, &t).await, 13);
}

#[tokio::test]
async fn every_signed_checkpoint_is_also_appended_to_the_witness_file() {
    let w = world().await;
    let t = w.tenant.tenant_id.clone();
    ingest(&w, actions(&t, 3)).await;
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 1);
    ingest(&w, actions(&t, 2)).await;
    let v = verify(&w, &t, &w.tenant.admin_token).await;
    assert_eq!((v.intact, v.checkpoint_sequence), (true, 5));

    let dir = w.suite.dir.path().join("witness");
    let text = std::fs::read_to_string(dir.join(format!("{t}.jsonl"))).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stored = w.audit.store.checkpoints(&t).await.unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(stored.len(), 2);
    for (line, cp) in lines.iter().zip(&stored) {
        assert_eq!(line["tenant_id"], t.as_str());
        assert_eq!(line["sequence"], cp.sequence);
        assert_eq!(line["hash"], cp.hash.as_str());
        assert_eq!(line["key_id"], cp.key_id.as_str());
        assert_eq!(line["signature"], cp.signature.as_str());
        assert!(line["sign_time"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!((stored[0].sequence, stored[1].sequence), (3, 5));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(format!("{t}.jsonl"))), 0o600);
    }
}
