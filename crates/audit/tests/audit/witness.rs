//! A writer of audit's database who also recomputes every hash, deletes the
//! checkpoints or restores an older copy is caught by the witness outside
//! the database, and `VerifyChain` names the first event it can no longer
//! vouch for.

use crate::common::*;
use keyholder_audit::AuditOptions;
use keyholder_audit::domain::chain::{GENESIS, link_hash};
use keyholder_audit::domain::event::NewEvent;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::TenantFixture;
use sea_orm::ConnectionTrait;

fn options() -> AuditOptions {
    AuditOptions {
        manual_mail: true,
        ..AuditOptions::default()
    }
}

async fn sql(w: &World, statements: &[String]) {
    let db = w.audit.store.connection();
    for s in statements {
        db.execute_unprepared(s).await.expect(s);
    }
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A tenant whose events arrive in `chunks`, each followed by the timer's
/// checkpoint pass, so the witness holds a checkpoint after every chunk.
async fn tenant_with_checkpoints(w: &World, name: &str, chunks: &[i64]) -> TenantFixture {
    let t = w.suite.create_tenant(name, 5).await;
    let mut n = 0;
    for &c in chunks {
        let evs = (0..c)
            .map(|_| {
                n += 1;
                let mut e = event(
                    &t.tenant_id,
                    pb::EventKind::Action,
                    now() + chrono::Duration::seconds(n),
                );
                e.reason = format!("reason-{n}");
                e
            })
            .collect();
        ingest(w, evs).await;
        assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 1);
    }
    t
}

/// What a database writer with the hashing rule can do: change the
/// tenant's events (`edit` gets them in sequence order), recompute every
/// sequence, content and hash from the start, move the head and delete the
/// tenant's checkpoints, so the database alone looks intact.
pub async fn rewrite_and_rehash(w: &World, tenant: &str, edit: impl FnOnce(&mut Vec<NewEvent>)) {
    let rows = w.audit.store.chain_rows(tenant, 0, 10_000).await.unwrap();
    let mut events: Vec<NewEvent> = rows
        .iter()
        .map(|r| NewEvent::from_canonical(&r.content).unwrap().1)
        .collect();
    edit(&mut events);
    let mut statements = vec![format!(
        "UPDATE audit_events SET sequence = -sequence WHERE tenant_id = {}",
        quoted(tenant)
    )];
    let mut prev = GENESIS.to_string();
    for (i, e) in events.iter().enumerate() {
        let seq = i as i64 + 1;
        let content = e.canonical(seq).unwrap();
        let hash = link_hash(&prev, &content);
        statements.push(format!(
            "UPDATE audit_events SET sequence = {seq}, content = {}, prev_hash = '{prev}', hash = '{hash}' WHERE event_id = {}",
            quoted(&content),
            quoted(&e.event_id)
        ));
        prev = hash;
    }
    statements.push(format!(
        "UPDATE audit_chain_heads SET sequence = {}, hash = '{prev}' WHERE tenant_id = {}",
        events.len(),
        quoted(tenant)
    ));
    statements.push(format!(
        "DELETE FROM audit_checkpoints WHERE tenant_id = {}",
        quoted(tenant)
    ));
    sql(w, &statements).await;
}

/// Audit starts again on the same database and data dir (nothing it
/// remembered in memory survives; the witness does).
async fn restart(w: &mut World) {
    w.audit = w.suite.start_audit_with(options()).await;
}

async fn witness_lines(w: &World, tenant: &str) -> usize {
    let path = w
        .suite
        .dir
        .path()
        .join("witness")
        .join(format!("{tenant}.jsonl"));
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[tokio::test]
async fn a_rewritten_and_rehashed_log_with_checkpoints_deleted_is_caught_after_a_restart() {
    let mut w = world_with(|_| {}, options()).await;
    let t = tenant_with_checkpoints(&w, "Rehashed", &[2, 2, 2]).await;
    let id = t.tenant_id.clone();
    rewrite_and_rehash(&w, &id, |evs| evs[2].reason = "nothing to see".into()).await;
    restart(&mut w).await;
    // The timer will not sign over the forged rows.
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 0);

    let v = verify(&w, &id, &t.admin_token).await;
    assert!(!v.intact);
    assert_eq!(v.first_broken_sequence, 3);
    assert_eq!(v.mismatch_sequence, 4);
    assert_eq!(v.witness_sequence, 6);
    assert_eq!(v.checked, 4);
    assert_eq!(
        v.problem,
        "event 4 differs from the witness's checkpoint signed there: the log was rewritten and rehashed at or after event 3, which the last agreeing checkpoint (event 2) covers no further"
    );
    // Nothing new was signed over the forgery, here or in the witness.
    assert!(w.audit.store.checkpoints(&id).await.unwrap().is_empty());
    assert_eq!(witness_lines(&w, &id).await, 3);
}

#[tokio::test]
async fn a_log_cut_short_with_checkpoints_deleted_is_caught() {
    let w = world_with(|_| {}, options()).await;
    let t = tenant_with_checkpoints(&w, "Cut", &[3, 3]).await;
    let id = quoted(&t.tenant_id);
    sql(&w, &[
        format!("DELETE FROM audit_events WHERE tenant_id = {id} AND sequence > 4"),
        format!(
            "UPDATE audit_chain_heads SET sequence = 4, hash = (SELECT hash FROM audit_events WHERE tenant_id = {id} AND sequence = 4) WHERE tenant_id = {id}"
        ),
        format!("DELETE FROM audit_checkpoints WHERE tenant_id = {id}"),
    ])
    .await;
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 0);

    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert!(!v.intact);
    assert_eq!(v.first_broken_sequence, 5);
    assert_eq!(
        (v.checked, v.witness_sequence, v.mismatch_sequence),
        (4, 6, 0)
    );
    assert_eq!(
        v.problem,
        "the log ends at event 4 but the witness holds a signed checkpoint of event 6: events 5..6 were removed, or the database was replaced with an older copy"
    );
}

#[tokio::test]
async fn reordered_and_rehashed_events_are_caught() {
    let w = world_with(|_| {}, options()).await;
    let t = tenant_with_checkpoints(&w, "Reordered", &[2, 2, 2]).await;
    rewrite_and_rehash(&w, &t.tenant_id, |evs| evs.swap(2, 3)).await;

    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert!(!v.intact);
    assert_eq!(v.first_broken_sequence, 3);
    assert_eq!((v.mismatch_sequence, v.checked), (4, 4));
    assert!(
        v.problem.contains("rewritten and rehashed"),
        "{}",
        v.problem
    );
}

#[tokio::test]
async fn a_database_replaced_by_an_older_copy_is_caught_after_a_restart() {
    let mut w = world_with(|_| {}, options()).await;
    let t = tenant_with_checkpoints(&w, "Restored", &[3]).await;
    // The copy: every table the chain lives in, as it stands now.
    const TABLES: [&str; 3] = ["audit_events", "audit_chain_heads", "audit_checkpoints"];
    sql(
        &w,
        &TABLES.map(|t| format!("CREATE TABLE old_{t} AS SELECT * FROM {t}")),
    )
    .await;
    let evs = (4..=6)
        .map(|i| {
            event(
                &t.tenant_id,
                pb::EventKind::Action,
                now() + chrono::Duration::seconds(i),
            )
        })
        .collect();
    ingest(&w, evs).await;
    assert_eq!(w.audit.ledger.checkpoint_all().await.unwrap(), 1);
    // The older copy goes back in place, and audit restarts on it.
    let mut restore = Vec::new();
    for t in TABLES {
        restore.push(format!("DELETE FROM {t}"));
        restore.push(format!("INSERT INTO {t} SELECT * FROM old_{t}"));
    }
    sql(&w, &restore).await;
    restart(&mut w).await;

    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert!(!v.intact);
    assert_eq!(v.first_broken_sequence, 4);
    assert_eq!(
        (v.checked, v.witness_sequence, v.checkpoint_sequence),
        (3, 6, 6)
    );
    assert!(v.problem.contains("older copy"), "{}", v.problem);
    // The copy is consistent in itself: only the witness knows.
    let own = w.audit.store.checkpoints(&t.tenant_id).await.unwrap();
    assert_eq!(own.iter().map(|c| c.sequence).collect::<Vec<_>>(), vec![3]);
}

#[tokio::test]
async fn an_untouched_log_agrees_with_the_witness() {
    let w = world_with(|_| {}, options()).await;
    let t = tenant_with_checkpoints(&w, "Untouched", &[2, 3]).await;
    let v = verify(&w, &t.tenant_id, &t.admin_token).await;
    assert!(v.intact, "{}", v.problem);
    assert_eq!(
        (
            v.checked,
            v.checkpoint_sequence,
            v.witness_sequence,
            v.mismatch_sequence
        ),
        (5, 5, 5, 0)
    );
    assert_eq!(v.first_broken_sequence, 0);
}
