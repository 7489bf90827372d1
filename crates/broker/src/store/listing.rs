//! The one listing of requests and grants: optional tenant, agent and ticket
//! filters, a state filter read as of now, newest first, one page at a time;
//! and the paging every broker listing shares.

use crate::domain::state::{GrantState, RequestState};
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::to_stored;
use keyholder_kit::paging::Page;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

/// Filters of a listing of requests or grants.
#[derive(Debug, Clone)]
pub struct ListFilter<S> {
    /// Tenant, if set.
    pub tenant_id: Option<String>,
    /// Agent, if set.
    pub agent_id: Option<String>,
    /// State (as of now), if set.
    pub state: Option<S>,
    /// Ticket, if set.
    pub ticket_ref: Option<String>,
}

// By hand: a derive would ask for `S: Default`, which no state is.
impl<S> Default for ListFilter<S> {
    fn default() -> Self {
        Self {
            tenant_id: None,
            agent_id: None,
            state: None,
            ticket_ref: None,
        }
    }
}

/// A listed state that lapses with time: the live state (a pending request,
/// an active grant) is the lapsed one from its `expire_at` on, even before a
/// sweeper has written it so.
pub trait Lapsing: Copy + PartialEq {
    /// The state that lapses.
    const LIVE: Self;
    /// What it lapses into.
    const LAPSED: Self;
    /// Stored name.
    fn stored(self) -> &'static str;
}

impl Lapsing for RequestState {
    const LIVE: Self = Self::Pending;
    const LAPSED: Self = Self::Expired;
    fn stored(self) -> &'static str {
        self.as_str()
    }
}

impl Lapsing for GrantState {
    const LIVE: Self = Self::Active;
    const LAPSED: Self = Self::Expired;
    fn stored(self) -> &'static str {
        self.as_str()
    }
}

/// The columns a listing reads, named for one table.
pub(super) struct Columns<C> {
    pub tenant_id: C,
    pub agent_id: C,
    pub ticket_ref: C,
    pub state: C,
    pub expire_at_us: C,
    pub created_at_us: C,
    pub id: C,
}

/// The [`Columns`] of an entity module (`requests`, `grants`): both name
/// their listed columns alike.
macro_rules! columns {
    ($m:ident) => {
        Columns {
            tenant_id: $m::Column::TenantId,
            agent_id: $m::Column::AgentId,
            ticket_ref: $m::Column::TicketRef,
            state: $m::Column::State,
            expire_at_us: $m::Column::ExpireAtUs,
            created_at_us: $m::Column::CreatedAtUs,
            id: $m::Column::Id,
        }
    };
}
pub(super) use columns;

/// A page of `E`'s rows matching `f`, newest first, plus the next page token.
pub(super) async fn page_of<E, S, C>(
    conn: &C,
    cols: &Columns<E::Column>,
    f: &ListFilter<S>,
    page: Page,
    now: DateTime<Utc>,
) -> Result<(Vec<E::Model>, String), Error>
where
    E: EntityTrait,
    S: Lapsing,
    C: ConnectionTrait,
{
    let mut q = E::find();
    if let Some(t) = &f.tenant_id {
        q = q.filter(cols.tenant_id.eq(t));
    }
    if let Some(a) = &f.agent_id {
        q = q.filter(cols.agent_id.eq(a));
    }
    if let Some(t) = &f.ticket_ref {
        q = q.filter(cols.ticket_ref.eq(t));
    }
    let now_us = to_stored(now);
    let live = S::LIVE.stored();
    // Filter on the state as of now, so an overdue live row lists as lapsed.
    match f.state {
        Some(s) if s == S::LIVE => {
            q = q
                .filter(cols.state.eq(live))
                .filter(cols.expire_at_us.gt(now_us));
        }
        Some(s) if s == S::LAPSED => {
            q = q.filter(
                cols.state
                    .eq(s.stored())
                    .or(cols.state.eq(live).and(cols.expire_at_us.lte(now_us))),
            );
        }
        Some(s) => q = q.filter(cols.state.eq(s.stored())),
        None => {}
    }
    let q = q.order_by_desc(cols.created_at_us).order_by_desc(cols.id);
    Ok(page_rows(conn, q, page).await?)
}

/// One page of `q`'s rows, in the order `q` sets, plus the next page token:
/// one row more than the page is read to learn whether another follows.
pub(super) async fn page_rows<E, C>(
    conn: &C,
    q: Select<E>,
    page: Page,
) -> Result<(Vec<E::Model>, String), DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut rows = q
        .offset(page.offset)
        .limit(page.limit + 1)
        .all(conn)
        .await?;
    let (next, keep) = page.finish(rows.len());
    rows.truncate(keep);
    Ok((rows, next))
}
