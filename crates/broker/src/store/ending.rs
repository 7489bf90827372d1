//! Ending access, shared by revoke, expiry, ticket closing, mode changes and
//! sign-out: a conditional update (so two brokers never end the same thing
//! twice or emit twice), the events, and the revocation record.

use super::entities::{grants, sessions};
use super::{Ended, outbox, revocations};
use crate::domain::state::GrantState;
use crate::events;
use keyholder_proto::audit::v1::{Actor, EventKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// How a grant ends.
#[derive(Debug, Clone)]
pub struct EndGrant {
    /// Revoked or expired.
    pub state: GrantState,
    /// Recorded as `revoked_by` (admin id, `ticket-closed`, …; empty on expiry).
    pub by: String,
    /// The sessions' end reason: `revoked`, `expired`, `ticket-closed`.
    pub session_end_reason: &'static str,
    /// Who did it.
    pub actor: Actor,
    /// Why, for the record.
    pub why: String,
}

/// Ends an active grant and its live sessions. Returns false (and does
/// nothing) when another caller ended it first.
pub async fn end_grant<C: ConnectionTrait>(
    conn: &C,
    postgres: bool,
    g: &grants::Model,
    how: &EndGrant,
    now_ms: i64,
    ended: &mut Ended,
) -> Result<bool, DbErr> {
    let n = grants::Entity::update_many()
        .col_expr(grants::Column::State, Expr::value(how.state.as_str()))
        .col_expr(grants::Column::EndedAt, Expr::value(now_ms))
        .col_expr(grants::Column::RevokedBy, Expr::value(how.by.clone()))
        .filter(grants::Column::Id.eq(&g.id))
        .filter(grants::Column::State.eq(GrantState::Active.as_str()))
        .exec(conn)
        .await?
        .rows_affected;
    if n == 0 {
        return Ok(false);
    }
    let mut g = g.clone();
    g.state = how.state.as_str().into();
    g.ended_at = Some(now_ms);
    g.revoked_by = how.by.clone();
    let now = crate::domain::from_ms(now_ms);
    let kind = if how.state == GrantState::Expired {
        EventKind::GrantExpired
    } else {
        EventKind::GrantRevoked
    };
    let mut e = events::for_grant(kind, &g, how.actor.clone(), now);
    if !how.why.is_empty() {
        e.attributes.insert("end_reason".into(), how.why.clone());
    }
    // Which end, for the mail: revoked, ticket-closed, support-access-closed, expired.
    e.attributes
        .insert("end_cause".into(), how.session_end_reason.to_string());
    outbox::push(conn, &e, now_ms).await?;
    let live = sessions::Entity::find()
        .filter(sessions::Column::GrantId.eq(&g.id))
        .filter(sessions::Column::EndedAt.is_null())
        .all(conn)
        .await?;
    for s in live {
        end_session(
            conn,
            postgres,
            &s,
            &g,
            how.session_end_reason,
            now_ms,
            ended,
            false,
        )
        .await?;
    }
    revocations::record(conn, postgres, &g.id, "", now_ms).await?;
    ended.grants.push(g.id.clone());
    Ok(true)
}

/// Ends a live session. Returns false when it had already ended.
#[allow(clippy::too_many_arguments)]
pub async fn end_session<C: ConnectionTrait>(
    conn: &C,
    postgres: bool,
    s: &sessions::Model,
    g: &grants::Model,
    reason: &str,
    now_ms: i64,
    ended: &mut Ended,
    record_revocation: bool,
) -> Result<bool, DbErr> {
    let n = sessions::Entity::update_many()
        .col_expr(sessions::Column::EndedAt, Expr::value(now_ms))
        .col_expr(sessions::Column::EndReason, Expr::value(reason))
        .filter(sessions::Column::Id.eq(&s.id))
        .filter(sessions::Column::EndedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    if n == 0 {
        return Ok(false);
    }
    let mut s = s.clone();
    s.ended_at = Some(now_ms);
    s.end_reason = reason.to_string();
    let e = events::for_session(EventKind::SignOut, &s, g, crate::domain::from_ms(now_ms));
    outbox::push(conn, &e, now_ms).await?;
    if record_revocation {
        revocations::record(conn, postgres, &g.id, &s.id, now_ms).await?;
    }
    ended.sessions.push(s.id.clone());
    Ok(true)
}
