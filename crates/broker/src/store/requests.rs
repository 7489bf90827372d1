//! Access requests: filing, deciding, listing, expiring and reminding. The
//! domain decides ([`AccessRequest`] → [`Decided`]); this writes the decision
//! with a conditional update, so of two deciders exactly one wins.

use super::entities::{requests, settings};
use super::listing::{Columns, ListFilter, columns, page_of};
use super::rows::{grant_row, request_from, request_row};
use super::{Ended, Store, push};
use crate::domain::Mode;
use crate::domain::grant::Grant;
use crate::domain::limits::check_open_for_approval;
use crate::domain::request::{AccessRequest, Decided};
use crate::domain::state::{RequestEvent, RequestState};
use crate::error::Error;
use crate::events;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::to_stored;
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Actor;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect,
};

/// Filters of a request listing.
pub type RequestFilter = ListFilter<RequestState>;

/// The columns a request listing reads.
const LISTED: Columns<requests::Column> = columns!(requests);

fn all_from(rows: Vec<requests::Model>) -> Result<Vec<AccessRequest>, Error> {
    rows.into_iter().map(request_from).collect()
}

impl Store {
    /// Files a request.
    pub async fn create_request(&self, r: &AccessRequest, requester: Actor) -> Result<(), Error> {
        let txn = self.begin().await?;
        request_row(r)?
            .into_active_model()
            .reset_all()
            .insert(&txn)
            .await?;
        push(&txn, &events::request_opened(r, requester), r.created_at).await?;
        self.commit(txn, &Ended::default()).await
    }

    /// One request.
    pub async fn request(&self, id: &str) -> Result<Option<AccessRequest>, Error> {
        requests::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?
            .map(request_from)
            .transpose()
    }

    /// A page of requests, newest first, plus the next page token.
    pub async fn list_requests(
        &self,
        f: &RequestFilter,
        page: Page,
        now: DateTime<Utc>,
    ) -> Result<(Vec<AccessRequest>, String), Error> {
        let (rows, next) =
            page_of::<requests::Entity, _, _>(self.db(), &LISTED, f, page, now).await?;
        Ok((all_from(rows)?, next))
    }

    /// Writes a decision if the request is still pending (and, unless it
    /// expires, still inside its time); false when someone else decided
    /// first or it expired.
    async fn decide<C: ConnectionTrait>(
        conn: &C,
        d: &Decided,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let r = &d.request;
        let mut q = requests::Entity::update_many()
            .col_expr(requests::Column::State, Expr::value(r.state.as_str()))
            .col_expr(
                requests::Column::DecidedBy,
                Expr::value(r.decided_by.clone()),
            )
            .col_expr(
                requests::Column::DecidedAtUs,
                Expr::value(r.decided_at.map(to_stored)),
            )
            .col_expr(
                requests::Column::DecisionNote,
                Expr::value(r.decision_note.clone()),
            )
            .col_expr(requests::Column::GrantId, Expr::value(r.grant_id.clone()))
            .filter(requests::Column::Id.eq(&r.id))
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()));
        if d.event != RequestEvent::Expire {
            q = q.filter(requests::Column::ExpireAtUs.gt(to_stored(now)));
        }
        Ok(q.exec(conn).await?.rows_affected == 1)
    }

    /// Approves: the request becomes approved and the grant is created, in
    /// one transaction. False when the request was no longer pending;
    /// refuses when the tenant closed support access meanwhile.
    pub async fn approve(&self, g: &Grant, d: &Decided, admin: Actor) -> Result<bool, Error> {
        let now = g.created_at;
        let txn = self.begin().await?;
        // Read the mode under a shared row lock (PostgreSQL; SQLite's write
        // lock is already held): a concurrent close either commits first and
        // is seen here, or waits for this grant and then revokes it.
        let mode = settings::Entity::find_by_id(g.tenant_id.clone())
            .lock_shared()
            .one(&txn)
            .await?
            .map_or(Mode::Closed, |s| Mode::parse(&s.mode));
        check_open_for_approval(mode)?;
        if !Self::decide(&txn, d, now).await? {
            return Ok(false);
        }
        grant_row(g)?
            .into_active_model()
            .reset_all()
            .insert(&txn)
            .await?;
        push(&txn, &events::request_approved(g, d, admin), now).await?;
        self.commit(txn, &Ended::default()).await?;
        Ok(true)
    }

    /// Writes a denial; false when the request was no longer pending.
    pub async fn deny(&self, d: &Decided, admin: Actor, now: DateTime<Utc>) -> Result<bool, Error> {
        let txn = self.begin().await?;
        if !Self::decide(&txn, d, now).await? {
            return Ok(false);
        }
        push(&txn, &events::request_decided(d, admin, now), now).await?;
        self.commit(txn, &Ended::default()).await?;
        Ok(true)
    }

    /// Expires overdue pending requests; returns how many this call expired.
    pub async fn expire_requests(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let due = requests::Entity::find()
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()))
            .filter(requests::Column::ExpireAtUs.lte(to_stored(now)))
            .limit(500)
            .all(self.db())
            .await?;
        let mut n = 0;
        for r in all_from(due)? {
            let d = r.expire(now)?;
            let txn = self.begin().await?;
            if Self::decide(&txn, &d, now).await? {
                push(
                    &txn,
                    &events::request_decided(&d, events::system(), now),
                    now,
                )
                .await?;
                n += 1;
            }
            self.commit(txn, &Ended::default()).await?;
        }
        Ok(n)
    }

    /// Sends the reminder for pending requests past their reminder time; each
    /// reminder goes out once even with several brokers sweeping.
    pub async fn remind_requests(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let now_us = to_stored(now);
        let due = requests::Entity::find()
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()))
            .filter(requests::Column::Reminded.eq(false))
            .filter(requests::Column::RemindAtUs.lte(now_us))
            .filter(requests::Column::ExpireAtUs.gt(now_us))
            .limit(500)
            .all(self.db())
            .await?;
        let mut n = 0;
        for r in all_from(due)? {
            let txn = self.begin().await?;
            let won = requests::Entity::update_many()
                .col_expr(requests::Column::Reminded, Expr::value(true))
                .filter(requests::Column::Id.eq(&r.id))
                .filter(requests::Column::Reminded.eq(false))
                .exec(&txn)
                .await?
                .rows_affected
                == 1;
            if won {
                push(&txn, &events::request_reminder(&r, now), now).await?;
                n += 1;
            }
            self.commit(txn, &Ended::default()).await?;
        }
        Ok(n)
    }

    /// Cancels the tenant's pending requests (only those of `ticket_ref`,
    /// when given) in the caller's transaction, recording `note` as the
    /// decision note; returns their ids. Overdue ones are left to expire.
    pub(crate) async fn cancel_pending_requests<C: ConnectionTrait>(
        conn: &C,
        tenant_id: &str,
        ticket_ref: Option<&str>,
        actor: &Actor,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let mut q = requests::Entity::find()
            .filter(requests::Column::TenantId.eq(tenant_id))
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()));
        if let Some(t) = ticket_ref {
            q = q.filter(requests::Column::TicketRef.eq(t));
        }
        let mut ids = Vec::new();
        for r in all_from(q.all(conn).await?)? {
            let Ok(d) = r.cancel(&actor.actor_id, note, now) else {
                continue;
            };
            if Self::decide(conn, &d, now).await? {
                push(conn, &events::request_decided(&d, actor.clone(), now), now).await?;
                ids.push(d.request.id);
            }
        }
        Ok(ids)
    }
}
