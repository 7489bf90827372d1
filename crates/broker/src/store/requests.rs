//! Access requests: filing, deciding, listing, expiring and reminding.

use super::entities::{grants, requests, settings};
use super::{Ended, Store, outbox};
use crate::domain::limits::check_open_for_approval;
use crate::domain::state::{RequestEvent, RequestState};
use crate::domain::{Mode, from_ms, to_ms};
use crate::error::Error;
use crate::events;
use chrono::{DateTime, Utc};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::{Actor, EventKind};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};

/// Filters of a request listing.
#[derive(Debug, Default, Clone)]
pub struct RequestFilter {
    /// Tenant, if set.
    pub tenant_id: Option<String>,
    /// Agent, if set.
    pub agent_id: Option<String>,
    /// State, if set.
    pub state: Option<RequestState>,
    /// Ticket, if set.
    pub ticket_ref: Option<String>,
}

impl Store {
    /// Files a request.
    pub async fn create_request(&self, r: &requests::Model, actor: Actor) -> Result<(), Error> {
        let txn = self.begin().await?;
        r.clone()
            .into_active_model()
            .reset_all()
            .insert(&txn)
            .await?;
        let e = events::for_request(EventKind::RequestCreated, r, actor, from_ms(r.created_at));
        outbox::push(&txn, &e, r.created_at).await?;
        self.commit(txn, &Ended::default()).await
    }

    /// One request.
    pub async fn request(&self, id: &str) -> Result<Option<requests::Model>, Error> {
        Ok(requests::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?)
    }

    /// A page of requests, newest first, plus the next page token.
    pub async fn list_requests(
        &self,
        f: &RequestFilter,
        page: Page,
        now: DateTime<Utc>,
    ) -> Result<(Vec<requests::Model>, String), Error> {
        let mut q = requests::Entity::find();
        if let Some(t) = &f.tenant_id {
            q = q.filter(requests::Column::TenantId.eq(t));
        }
        if let Some(a) = &f.agent_id {
            q = q.filter(requests::Column::AgentId.eq(a));
        }
        if let Some(t) = &f.ticket_ref {
            q = q.filter(requests::Column::TicketRef.eq(t));
        }
        let now_ms = to_ms(now);
        // Filter on the state as of now, so an overdue pending request lists as expired.
        match f.state {
            Some(RequestState::Pending) => {
                q = q
                    .filter(requests::Column::State.eq("pending"))
                    .filter(requests::Column::ExpireAt.gt(now_ms));
            }
            Some(RequestState::Expired) => {
                q = q.filter(
                    requests::Column::State
                        .eq("expired")
                        .or(requests::Column::State
                            .eq("pending")
                            .and(requests::Column::ExpireAt.lte(now_ms))),
                );
            }
            Some(s) => q = q.filter(requests::Column::State.eq(s.as_str())),
            None => {}
        }
        let rows = q
            .order_by_desc(requests::Column::CreatedAt)
            .order_by_desc(requests::Column::Id)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(self.db())
            .await?;
        let (next, keep) = page.finish(rows.len());
        Ok((rows.into_iter().take(keep).collect(), next))
    }

    /// Moves a pending, unexpired request to `state`; false when it was not
    /// pending any more (someone else decided, or it expired).
    async fn decide<C: sea_orm::ConnectionTrait>(
        conn: &C,
        r: &requests::Model,
        event: RequestEvent,
        by: &str,
        note: &str,
        grant_id: &str,
        now_ms: i64,
    ) -> Result<bool, Error> {
        let next = RequestState::Pending.on(event)?;
        let mut q = requests::Entity::update_many()
            .col_expr(requests::Column::State, Expr::value(next.as_str()))
            .col_expr(requests::Column::DecidedBy, Expr::value(by))
            .col_expr(requests::Column::DecidedAt, Expr::value(now_ms))
            .col_expr(requests::Column::DecisionNote, Expr::value(note))
            .col_expr(requests::Column::GrantId, Expr::value(grant_id))
            .filter(requests::Column::Id.eq(&r.id))
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()));
        if event != RequestEvent::Expire {
            q = q.filter(requests::Column::ExpireAt.gt(now_ms));
        }
        Ok(q.exec(conn).await?.rows_affected == 1)
    }

    /// Approves: the request becomes approved and the grant is created, in one
    /// transaction. Returns None when the request was no longer pending;
    /// refuses when the tenant closed support access meanwhile.
    pub async fn approve(
        &self,
        r: &requests::Model,
        g: &grants::Model,
        actor: Actor,
        note: &str,
    ) -> Result<Option<requests::Model>, Error> {
        let now_ms = g.created_at;
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
        if !Self::decide(
            &txn,
            r,
            RequestEvent::Approve,
            &g.granted_by_id,
            note,
            &g.id,
            now_ms,
        )
        .await?
        {
            return Ok(None);
        }
        g.clone()
            .into_active_model()
            .reset_all()
            .insert(&txn)
            .await?;
        let mut r = r.clone();
        r.state = RequestState::Approved.as_str().into();
        r.decided_by = g.granted_by_id.clone();
        r.decided_at = Some(now_ms);
        r.decision_note = note.to_string();
        r.grant_id = g.id.clone();
        let mut e = events::for_grant(EventKind::RequestApproved, g, actor, from_ms(now_ms));
        if !note.is_empty() {
            e.attributes.insert("note".into(), note.to_string());
        }
        outbox::push(&txn, &e, now_ms).await?;
        self.commit(txn, &Ended::default()).await?;
        Ok(Some(r))
    }

    /// Denies. Returns None when the request was no longer pending.
    pub async fn deny(
        &self,
        r: &requests::Model,
        admin_id: &str,
        actor: Actor,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<requests::Model>, Error> {
        let now_ms = to_ms(now);
        let txn = self.begin().await?;
        if !Self::decide(&txn, r, RequestEvent::Deny, admin_id, note, "", now_ms).await? {
            return Ok(None);
        }
        let mut r = r.clone();
        r.state = RequestState::Denied.as_str().into();
        r.decided_by = admin_id.to_string();
        r.decided_at = Some(now_ms);
        r.decision_note = note.to_string();
        let e = events::for_request(EventKind::RequestDenied, &r, actor, now);
        outbox::push(&txn, &e, now_ms).await?;
        self.commit(txn, &Ended::default()).await?;
        Ok(Some(r))
    }

    /// Expires overdue pending requests; returns how many this call expired.
    pub async fn expire_requests(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let now_ms = to_ms(now);
        let due = requests::Entity::find()
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()))
            .filter(requests::Column::ExpireAt.lte(now_ms))
            .limit(500)
            .all(self.db())
            .await?;
        let mut n = 0;
        for r in due {
            let txn = self.begin().await?;
            if Self::decide(&txn, &r, RequestEvent::Expire, "", "", "", now_ms).await? {
                let mut r = r.clone();
                r.state = RequestState::Expired.as_str().into();
                let e = events::for_request(EventKind::RequestExpired, &r, events::system(), now);
                outbox::push(&txn, &e, now_ms).await?;
                n += 1;
            }
            self.commit(txn, &Ended::default()).await?;
        }
        Ok(n)
    }

    /// Sends the reminder for pending requests past their reminder time; each
    /// reminder goes out once even with several brokers sweeping.
    pub async fn remind_requests(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let now_ms = to_ms(now);
        let due = requests::Entity::find()
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()))
            .filter(requests::Column::Reminded.eq(false))
            .filter(requests::Column::RemindAt.lte(now_ms))
            .filter(requests::Column::ExpireAt.gt(now_ms))
            .limit(500)
            .all(self.db())
            .await?;
        let mut n = 0;
        for r in due {
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
                let e = events::for_request(EventKind::RequestExpiring, &r, events::system(), now);
                outbox::push(&txn, &e, now_ms).await?;
                n += 1;
            }
            self.commit(txn, &Ended::default()).await?;
        }
        Ok(n)
    }

    /// Cancels the tenant's pending requests (only those of `ticket_ref`,
    /// when given) in the caller's transaction, recording `note` as the
    /// decision note; returns their ids. Overdue ones are left to expire.
    pub(crate) async fn cancel_pending_requests<C: sea_orm::ConnectionTrait>(
        conn: &C,
        tenant_id: &str,
        ticket_ref: Option<&str>,
        actor: &Actor,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let now_ms = to_ms(now);
        let mut q = requests::Entity::find()
            .filter(requests::Column::TenantId.eq(tenant_id))
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()));
        if let Some(t) = ticket_ref {
            q = q.filter(requests::Column::TicketRef.eq(t));
        }
        let mut ids = Vec::new();
        for r in q.all(conn).await? {
            if Self::decide(
                conn,
                &r,
                RequestEvent::Cancel,
                &actor.actor_id,
                note,
                "",
                now_ms,
            )
            .await?
            {
                let mut r = r.clone();
                r.state = RequestState::Pending
                    .on(RequestEvent::Cancel)?
                    .as_str()
                    .into();
                r.decided_by = actor.actor_id.clone();
                r.decided_at = Some(now_ms);
                r.decision_note = note.to_string();
                let e = events::for_request(EventKind::RequestCancelled, &r, actor.clone(), now);
                outbox::push(conn, &e, now_ms).await?;
                ids.push(r.id);
            }
        }
        Ok(ids)
    }
}
