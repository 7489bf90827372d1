//! The login history's read model (`audit_sign_ins`): kept up to date in the
//! transaction that appends the events, and read a page at a time straight
//! from an index in (tenant, [filter,] sign-in time, sequence) order.

use super::Store;
use super::entities::{event, sign_in};
use crate::domain::event::{Actor, Kind, NewEvent};
use crate::domain::history::{LoginEntry, Projection, project};
use crate::domain::login_cursor::Cursor;
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use std::collections::{HashMap, HashSet};

/// Rows per multi-row insert.
const INSERT_CHUNK: usize = 500;

/// Filters of the login history.
#[derive(Debug, Clone, Default)]
pub struct LoginQuery {
    /// Only this agent, if set.
    pub agent_id: String,
    /// Leave out refused attempts.
    pub exclude_refused: bool,
    /// From (inclusive).
    pub start: Option<DateTime<Utc>>,
    /// Before.
    pub end: Option<DateTime<Utc>>,
}

/// An actor as the row stores it; empty when there is none. A failure is an
/// error: an empty string would read back as "unknown person".
fn actor_json(a: &Option<Actor>) -> Result<String, Error> {
    match a {
        None => Ok(String::new()),
        Some(a) => serde_json::to_string(a)
            .map_err(|e| Error::Internal(format!("cannot store a login actor: {e}"))),
    }
}

fn actor_from(json: &str) -> Result<Option<Actor>, Error> {
    if json.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(json)
        .map(Some)
        .map_err(|e| Error::Internal(format!("stored login actor is unreadable: {e}")))
}

/// The row of an entry; `source` is the event it came from (its id and
/// agent, which the entry itself does not carry).
fn to_model(
    tenant: &str,
    sequence: i64,
    source: &NewEvent,
    e: &LoginEntry,
) -> Result<sign_in::ActiveModel, Error> {
    Ok(sign_in::ActiveModel {
        event_id: Set(source.event_id.clone()),
        tenant_id: Set(tenant.to_string()),
        sequence: Set(sequence),
        sign_in_time_us: Set(to_stored(e.sign_in_time)),
        succeeded: Set(i32::from(e.succeeded)),
        session_id: Set(e.session_id.clone()),
        agent_id: Set(source.agent_id().to_string()),
        accessed_by: Set(actor_json(&e.accessed_by)?),
        granted_by: Set(actor_json(&e.granted_by)?),
        reason: Set(e.reason.clone()),
        ticket_ref: Set(e.ticket_ref.clone()),
        grant_id: Set(e.grant_id.clone()),
        refusal: Set(e.refusal.clone()),
        sign_out_time_us: Set(e.sign_out_time.map(to_stored)),
        end_reason: Set(e.end_reason.clone()),
    })
}

/// A row as the domain's entry.
fn to_domain(m: &sign_in::Model) -> Result<LoginEntry, Error> {
    Ok(LoginEntry {
        session_id: m.session_id.clone(),
        accessed_by: actor_from(&m.accessed_by)?,
        sign_in_time: from_stored(m.sign_in_time_us)?,
        sign_out_time: m.sign_out_time_us.map(from_stored).transpose()?,
        reason: m.reason.clone(),
        granted_by: actor_from(&m.granted_by)?,
        ticket_ref: m.ticket_ref.clone(),
        grant_id: m.grant_id.clone(),
        succeeded: m.succeeded != 0,
        refusal: m.refusal.clone(),
        end_reason: m.end_reason.clone(),
    })
}

/// Brings the read model up to date with `events` (one tenant's, in
/// sequence order, already inserted into `audit_events` on `conn`): a row
/// per sign-in or refused attempt, sign-outs closing their sessions. Runs
/// inside the appending transaction, and again by the back-fill migration
/// (re-running it is harmless: rows are keyed by event id).
pub(crate) async fn project_events<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    events: &[(i64, &NewEvent)],
) -> Result<(), Error> {
    let mut opens: Vec<(i64, &NewEvent, LoginEntry)> = Vec::new();
    let mut closes = Vec::new();
    for (seq, e) in events {
        match project(e) {
            Some(Projection::Open(entry)) => opens.push((*seq, *e, *entry)),
            Some(close @ Projection::Close { .. }) => closes.push(close),
            None => {}
        }
    }
    // A sign-out may have been stored before its sign-in (producers' outboxes
    // do not promise order across event kinds): the first sign-out of the
    // session in the chain, this batch's included, ends a new sign-in.
    let sessions: HashSet<&str> = opens
        .iter()
        .filter(|(_, _, entry)| entry.succeeded && !entry.session_id.is_empty())
        .map(|(_, _, entry)| entry.session_id.as_str())
        .collect();
    if !sessions.is_empty() {
        let earlier = event::Entity::find()
            .filter(event::Column::TenantId.eq(tenant))
            .filter(event::Column::Kind.eq(Kind::SignOut.as_str()))
            .filter(event::Column::SessionId.is_in(sessions))
            .order_by_asc(event::Column::Sequence)
            .all(conn)
            .await?;
        let mut first: HashMap<String, (DateTime<Utc>, String)> = HashMap::new();
        for m in earlier {
            let Some((_, e)) = NewEvent::from_canonical(&m.content) else {
                return Err(Error::Internal(format!(
                    "stored event {} is unreadable",
                    m.event_id
                )));
            };
            if let Some(Projection::Close {
                session_id,
                sign_out_time,
                end_reason,
            }) = project(&e)
            {
                first
                    .entry(session_id)
                    .or_insert((sign_out_time, end_reason));
            }
        }
        for (_, _, entry) in &mut opens {
            if let Some((at, why)) = first.get(&entry.session_id)
                && entry.is_closed_by(&entry.session_id)
            {
                entry.sign_out_time = Some(*at);
                entry.end_reason = why.clone();
            }
        }
    }
    let rows = opens
        .iter()
        .map(|(seq, e, entry)| to_model(tenant, *seq, e, entry))
        .collect::<Result<Vec<_>, _>>()?;
    for chunk in rows.chunks(INSERT_CHUNK) {
        sign_in::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([sign_in::Column::EventId])
            .exec_without_returning(conn)
            .await?;
    }
    // Sessions already open end at their first sign-out: rows ended before
    // keep their end.
    for close in closes {
        let Projection::Close {
            session_id,
            sign_out_time,
            end_reason,
        } = close
        else {
            continue;
        };
        sign_in::Entity::update_many()
            .col_expr(
                sign_in::Column::SignOutTimeUs,
                Expr::value(Some(to_stored(sign_out_time))),
            )
            .col_expr(sign_in::Column::EndReason, Expr::value(end_reason))
            .filter(sign_in::Column::TenantId.eq(tenant))
            .filter(sign_in::Column::SessionId.eq(session_id))
            .filter(sign_in::Column::Succeeded.eq(1))
            .filter(sign_in::Column::SignOutTimeUs.is_null())
            .exec(conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// One page of the login history, newest first, after `after` (the last
    /// entry of the previous page): `limit` rows and one more to tell
    /// whether a next page exists. Each comes with its cursor.
    pub async fn login_page(
        &self,
        tenant_id: &str,
        query: &LoginQuery,
        after: Option<Cursor>,
        limit: u64,
    ) -> Result<Vec<(Cursor, LoginEntry)>, Error> {
        let mut c = Condition::all().add(sign_in::Column::TenantId.eq(tenant_id));
        if !query.agent_id.is_empty() {
            c = c.add(sign_in::Column::AgentId.eq(query.agent_id.as_str()));
        }
        if query.exclude_refused {
            c = c.add(sign_in::Column::Succeeded.eq(1));
        }
        if let Some(t) = query.start {
            c = c.add(sign_in::Column::SignInTimeUs.gte(to_stored(t)));
        }
        if let Some(t) = query.end {
            c = c.add(sign_in::Column::SignInTimeUs.lt(to_stored(t)));
        }
        if let Some(at) = after {
            // A row comparison: both databases walk the index backwards from
            // this point instead of skipping rows.
            c = c.add(ExprTrait::lt(
                Expr::tuple([
                    Expr::col(sign_in::Column::SignInTimeUs),
                    Expr::col(sign_in::Column::Sequence),
                ]),
                Expr::tuple([Expr::value(at.sign_in_time), Expr::value(at.sequence)]),
            ));
        }
        let rows = sign_in::Entity::find()
            .filter(c)
            .order_by_desc(sign_in::Column::SignInTimeUs)
            .order_by_desc(sign_in::Column::Sequence)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        rows.iter()
            .map(|m| {
                Ok((
                    Cursor {
                        sign_in_time: m.sign_in_time_us,
                        sequence: m.sequence,
                    },
                    to_domain(m)?,
                ))
            })
            .collect()
    }
}
