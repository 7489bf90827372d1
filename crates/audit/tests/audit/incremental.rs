//! Incremental VerifyChain (from the latest signed checkpoint) and full
//! re-verification: both catch tampering after the checkpoint and a
//! rewrite-and-rehash before it, naming the same first bad event; only a
//! full pass re-reads older rows.

use crate::common::*;
use keyholder_audit::domain::chain::{GENESIS, link_hash};
use keyholder_proto::audit::v1 as pb;
use sea_orm::ConnectionTrait;

fn actions(tenant: &str, from: i64, n: i64) -> Vec<pb::Event> {
    (from..from + n)
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

async fn sql(w: &World, statements: &[String]) {
    let db = w.audit.store.connection();
    for s in statements {
        db.execute_unprepared(s).await.expect(s);
    }
}

/// Rewrites event `at`'s content and re-hashes the chain from there on,
/// the way a writer with database access would hide an edit.
async fn rewrite_and_rehash(w: &World, tenant: &str, at: i64) {
    let rows = w
        .audit
        .store
        .chain_rows(tenant, 0, 10_000)
        .await
        .expect("rows");
    let mut prev = GENESIS.to_string();
    let mut statements = Vec::new();
    for r in rows {
        let content = if r.sequence == at {
            r.content.replace("reason-", "forged-")
        } else {
            r.content.clone()
        };
        let hash = link_hash(&prev, &content);
        if r.sequence >= at {
            statements.push(format!(
                "UPDATE audit_events SET content = '{}', prev_hash = '{prev}', hash = '{hash}' WHERE tenant_id = '{tenant}' AND sequence = {}",
                content.replace('\'', "''"),
                r.sequence
            ));
        }
        prev = hash;
    }
    statements.push(format!(
        "UPDATE audit_chain_heads SET hash = '{prev}' WHERE tenant_id = '{tenant}'"
    ));
    sql(w, &statements).await;
}

/// A tenant with 10 events and a signed checkpoint at 6.
async fn checkpointed(w: &World, name: &str) -> keyholder_testkit::TenantFixture {
    let t = w.suite.create_tenant(name, 5).await;
    ingest(w, actions(&t.tenant_id, 1, 6)).await;
    let v = verify_mode(w, &t.tenant_id, &t.admin_token, false).await;
    assert!(v.intact, "{}", v.problem);
    assert_eq!((v.checked, v.checkpoint_sequence), (6, 6));
    ingest(w, actions(&t.tenant_id, 7, 4)).await;
    t
}

#[tokio::test]
async fn incremental_reads_only_what_came_after_the_checkpoint() {
    let w = world().await;
    let t = checkpointed(&w, "Incremental").await;
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, false).await;
    assert!(v.intact, "{}", v.problem);
    assert_eq!((v.checked, v.checkpoint_sequence), (4, 10));
    ingest(&w, actions(&t.tenant_id, 11, 3)).await;
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, false).await;
    assert_eq!((v.intact, v.checked, v.checkpoint_sequence), (true, 3, 13));
    // Nothing new: nothing to read.
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, false).await;
    assert_eq!((v.intact, v.checked, v.checkpoint_sequence), (true, 0, 13));
    // Full reads everything.
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, true).await;
    assert_eq!((v.intact, v.checked, v.checkpoint_sequence), (true, 13, 13));
}

#[tokio::test]
async fn both_modes_catch_an_edit_after_the_checkpoint() {
    let w = world().await;
    let t = checkpointed(&w, "Edited late").await;
    sql(&w, &[format!(
        "UPDATE audit_events SET content = REPLACE(content, 'reason-8', 'nothing') WHERE tenant_id = '{}' AND sequence = 8",
        t.tenant_id
    )])
    .await;
    for full in [false, true] {
        let v = verify_mode(&w, &t.tenant_id, &t.admin_token, full).await;
        assert!(!v.intact, "full: {full}");
        assert_eq!(v.first_broken_sequence, 8, "full: {full}");
        assert!(v.problem.contains("edited"), "{}", v.problem);
        // No checkpoint is signed over a broken chain.
        assert_eq!(v.checkpoint_sequence, 6);
    }
    // Incremental checked 7 before stopping at 8; full checked 1..7.
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, false).await;
    assert_eq!(v.checked, 1);
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, true).await;
    assert_eq!(v.checked, 7);
}

#[tokio::test]
async fn both_modes_catch_a_rewrite_and_rehash_before_the_checkpoint() {
    let w = world().await;
    let t = checkpointed(&w, "Rehashed").await;
    rewrite_and_rehash(&w, &t.tenant_id, 3).await;
    let incremental = verify_mode(&w, &t.tenant_id, &t.admin_token, false).await;
    let full = verify_mode(&w, &t.tenant_id, &t.admin_token, true).await;
    // The checkpoint at 6 no longer matches: incremental cannot start there
    // and answers as a full verification does.
    assert_eq!(incremental, full);
    assert!(!full.intact);
    assert_eq!(full.mismatch_sequence, 6);
    assert_eq!(full.first_broken_sequence, 1);
    assert!(full.problem.contains("rewritten"), "{}", full.problem);
}

#[tokio::test]
async fn truncation_below_the_checkpoint_is_named_by_both_modes() {
    let w = world().await;
    let t = checkpointed(&w, "Truncated").await;
    let id = &t.tenant_id;
    sql(&w, &[
        format!("DELETE FROM audit_events WHERE tenant_id = '{id}' AND sequence > 4"),
        format!(
            "UPDATE audit_chain_heads SET sequence = 4, hash = (SELECT hash FROM audit_events WHERE tenant_id = '{id}' AND sequence = 4) WHERE tenant_id = '{id}'"
        ),
    ])
    .await;
    for full in [false, true] {
        let v = verify_mode(&w, id, &t.admin_token, full).await;
        assert!(!v.intact);
        assert_eq!(v.first_broken_sequence, 5, "full: {full}");
        assert!(
            v.problem.contains("truncated") || v.problem.contains("removed"),
            "{}",
            v.problem
        );
    }
}

#[tokio::test]
async fn only_a_full_pass_rereads_an_old_row_damaged_in_place() {
    let w = world().await;
    let t = checkpointed(&w, "Damaged").await;
    // Row 2's bytes change but no hash is touched: every signed hash still
    // holds, so nothing after the checkpoint shows it.
    sql(&w, &[format!(
        "UPDATE audit_events SET content = REPLACE(content, 'reason-2', 'damaged') WHERE tenant_id = '{}' AND sequence = 2",
        t.tenant_id
    )])
    .await;
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, false).await;
    assert!(
        v.intact,
        "incremental does not re-read row 2: {}",
        v.problem
    );
    let v = verify_mode(&w, &t.tenant_id, &t.admin_token, true).await;
    assert!(!v.intact);
    assert_eq!(v.first_broken_sequence, 2);
    assert!(v.problem.contains("edited"), "{}", v.problem);
}

/// Events appended while a verification reads the log lie past the head it
/// read first: they are left to the next verification, never taken for a
/// truncation (a false "not intact" the demo once met).
#[tokio::test]
async fn verifying_while_events_arrive_never_reports_a_truncation() {
    let w = world().await;
    let t = w.suite.create_tenant("Busy", 5).await;
    ingest(&w, actions(&t.tenant_id, 1, 5)).await;
    let mut client = w.suite.audit();
    let (producer, tenant) = (w.producer.clone(), t.tenant_id.clone());
    let writer = tokio::spawn(async move {
        for round in 0..40 {
            client
                .ingest_events(keyholder_testkit::bearer(
                    pb::IngestEventsRequest {
                        events: actions(&tenant, 6 + round * 5, 5),
                    },
                    &producer,
                ))
                .await
                .expect("ingest while verifying");
        }
    });
    let mut answers = 0;
    while !writer.is_finished() {
        for full in [true, false] {
            let v = verify_mode(&w, &t.tenant_id, &t.admin_token, full).await;
            assert!(v.intact, "full={full}: {}", v.problem);
            answers += 1;
        }
    }
    writer.await.expect("writer");
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert_eq!((v.intact, v.checked), (true, 205), "{}", v.problem);
    assert!(answers >= 2, "{answers}");
}
