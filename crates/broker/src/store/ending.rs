//! Ending access, shared by revoke, expiry, ticket closing, mode changes and
//! sign-out: a conditional update (so two brokers never end the same thing
//! twice or emit twice), the events, and the revocation record. The domain
//! decided the end ([`EndedGrant`], an ended [`Session`]); this writes it.

use super::entities::{grants, sessions};
use super::rows::session_from;
use super::{Ended, push, revocations};
use crate::domain::grant::{EndedGrant, Grant};
use crate::domain::session::Session;
use crate::domain::state::GrantState;
use crate::error::Error;
use crate::events;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::to_stored;
use keyholder_proto::audit::v1::Actor;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// Writes a grant's end and ends its live sessions. Returns false (and does
/// nothing) when another caller ended it first.
pub async fn end_grant<C: ConnectionTrait>(
    conn: &C,
    postgres: bool,
    x: &EndedGrant,
    actor: Actor,
    now: DateTime<Utc>,
    ended: &mut Ended,
) -> Result<bool, Error> {
    let g = &x.grant;
    let now_us = to_stored(now);
    let n = grants::Entity::update_many()
        .col_expr(grants::Column::State, Expr::value(g.state.as_str()))
        .col_expr(grants::Column::EndedAtUs, Expr::value(now_us))
        .col_expr(grants::Column::RevokedBy, Expr::value(g.revoked_by.clone()))
        .filter(grants::Column::Id.eq(&g.id))
        .filter(grants::Column::State.eq(GrantState::Active.as_str()))
        .exec(conn)
        .await?
        .rows_affected;
    if n == 0 {
        return Ok(false);
    }
    push(conn, &events::grant_ended(x, actor, now), now).await?;
    let live = sessions::Entity::find()
        .filter(sessions::Column::GrantId.eq(&g.id))
        .filter(sessions::Column::EndedAtUs.is_null())
        .all(conn)
        .await?;
    for s in live {
        let s = session_from(s)?.end(x.cause.as_str(), now)?;
        end_session(conn, postgres, &s, g, now, ended, false).await?;
    }
    revocations::record(conn, postgres, &g.id, "", now_us).await?;
    ended.grants.push(g.id.clone());
    Ok(true)
}

/// Writes a session's end (`s` as the domain ended it). Returns false when
/// it had already ended.
pub async fn end_session<C: ConnectionTrait>(
    conn: &C,
    postgres: bool,
    s: &Session,
    g: &Grant,
    now: DateTime<Utc>,
    ended: &mut Ended,
    record_revocation: bool,
) -> Result<bool, Error> {
    let now_us = to_stored(now);
    let n = sessions::Entity::update_many()
        .col_expr(
            sessions::Column::EndedAtUs,
            Expr::value(s.ended_at.map(to_stored)),
        )
        .col_expr(
            sessions::Column::EndReason,
            Expr::value(s.end_reason.clone()),
        )
        .filter(sessions::Column::Id.eq(&s.id))
        .filter(sessions::Column::EndedAtUs.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    if n == 0 {
        return Ok(false);
    }
    push(conn, &events::signed_out(s, g, now), now).await?;
    if record_revocation {
        revocations::record(conn, postgres, &g.id, &s.id, now_us).await?;
    }
    ended.sessions.push(s.id.clone());
    Ok(true)
}
