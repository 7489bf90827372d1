//! The login history's read model: one row per sign-in or refused attempt,
//! with its session's end, and the indexes that serve a page of it directly
//! (newest first, keyset-paged). Back-filled here from the events already
//! stored; from then on kept by the appending transaction.

use crate::domain::event::{Kind, NewEvent};
use crate::store::entities::event;
use crate::store::sign_ins::project_events;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Events read per back-fill round.
const BACKFILL_BATCH: u64 = 2000;

const UP: &[&str] = &[
    "CREATE TABLE audit_sign_ins (
        event_id TEXT NOT NULL PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        sign_in_time BIGINT NOT NULL,
        succeeded INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        accessed_by TEXT NOT NULL,
        granted_by TEXT NOT NULL,
        reason TEXT NOT NULL,
        ticket_ref TEXT NOT NULL,
        grant_id TEXT NOT NULL,
        refusal TEXT NOT NULL,
        sign_out_time BIGINT,
        end_reason TEXT NOT NULL
    )",
    // One index per way the page is asked for, each ending in the page
    // order, so a page is a short backward range scan with no sort.
    "CREATE UNIQUE INDEX audit_sign_ins_page ON audit_sign_ins (tenant_id, sign_in_time, sequence)",
    "CREATE INDEX audit_sign_ins_agent_page ON audit_sign_ins (tenant_id, agent_id, sign_in_time, sequence)",
    "CREATE INDEX audit_sign_ins_succeeded_page ON audit_sign_ins (tenant_id, succeeded, sign_in_time, sequence)",
    // Sign-outs find their session's open rows.
    "CREATE INDEX audit_sign_ins_session ON audit_sign_ins (tenant_id, session_id)",
    // A new sign-in looks for its session's sign-out among the events (it
    // may have arrived first). Without this the planners pick
    // (tenant, kind, time) and filter every sign-out of the tenant: appends
    // slowed down in proportion to the log (measured: PostgreSQL fell from
    // 4.9k to 2.6k events/s over the first 800k of a tenant).
    "CREATE INDEX audit_events_tenant_kind_session ON audit_events (tenant_id, kind, session_id)",
];

fn custom(e: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("back-filling the login history: {e}"))
}

/// Projects every sign-in, refused attempt and sign-out already stored, a
/// batch at a time in (tenant, sequence) order. Idempotent: rows already
/// there are kept, so it also repairs a read model that lost rows.
pub async fn backfill<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let kinds = [Kind::SignIn, Kind::SignInRefused, Kind::SignOut].map(|k| k.as_str());
    let mut after: Option<(String, i64)> = None;
    loop {
        let mut q = event::Entity::find().filter(event::Column::Kind.is_in(kinds));
        if let Some((t, s)) = &after {
            q = q.filter(ExprTrait::gt(
                Expr::tuple([
                    Expr::col(event::Column::TenantId),
                    Expr::col(event::Column::Sequence),
                ]),
                Expr::tuple([Expr::value(t.clone()), Expr::value(*s)]),
            ));
        }
        let rows = q
            .order_by_asc(event::Column::TenantId)
            .order_by_asc(event::Column::Sequence)
            .limit(BACKFILL_BATCH)
            .all(db)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some((last.tenant_id.clone(), last.sequence));
        let mut parsed = Vec::with_capacity(rows.len());
        for m in &rows {
            let (_, e) = NewEvent::from_canonical(&m.content)
                .ok_or_else(|| custom(format!("event {} is unreadable", m.event_id)))?;
            parsed.push((m.tenant_id.as_str(), m.sequence, e));
        }
        let mut start = 0;
        while start < parsed.len() {
            let tenant = parsed[start].0;
            let end = parsed[start..]
                .iter()
                .position(|(t, _, _)| *t != tenant)
                .map_or(parsed.len(), |n| start + n);
            let events: Vec<_> = parsed[start..end].iter().map(|(_, s, e)| (*s, e)).collect();
            project_events(db, tenant, &events).await.map_err(custom)?;
            start = end;
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in UP {
            db.execute_unprepared(sql).await?;
        }
        // The back-fill goes through today's entities, whose instant
        // columns carry m0003's names: give them those names first.
        super::m0003_instants_named_in_microseconds::rename(db, true).await?;
        backfill(db).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE audit_sign_ins")
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX audit_events_tenant_kind_session")
            .await?;
        // Back to the names m0001 made, as its up found them.
        super::m0003_instants_named_in_microseconds::rename(manager.get_connection(), false).await
    }
}
