//! Grants: reading, listing, extending, revoking, the one-time credential,
//! expiry and ticket closing.

use super::ending::{EndGrant, end_grant};
use super::entities::grants;
use super::{Ended, Store, outbox};
use crate::domain::notice::notice_due;
use crate::domain::state::GrantState;
use crate::domain::{from_ms, to_ms};
use crate::error::Error;
use crate::events;
use chrono::{DateTime, Utc};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::{Actor, EventKind};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// Filters of a grant listing.
#[derive(Debug, Default, Clone)]
pub struct GrantFilter {
    /// Tenant, if set.
    pub tenant_id: Option<String>,
    /// Agent, if set.
    pub agent_id: Option<String>,
    /// State (as of now), if set.
    pub state: Option<GrantState>,
    /// Ticket, if set.
    pub ticket_ref: Option<String>,
}

/// The outcome of issuing a one-time credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialIssue {
    /// Stored.
    Issued,
    /// The grant's credential was already used; none is issued again.
    AlreadyUsed,
    /// The grant is no longer active.
    GrantEnded,
}

impl Store {
    /// One grant.
    pub async fn grant(&self, id: &str) -> Result<Option<grants::Model>, Error> {
        Ok(grants::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?)
    }

    /// A page of grants, newest first, plus the next page token.
    pub async fn list_grants(
        &self,
        f: &GrantFilter,
        page: Page,
        now: DateTime<Utc>,
    ) -> Result<(Vec<grants::Model>, String), Error> {
        let mut q = grants::Entity::find();
        if let Some(t) = &f.tenant_id {
            q = q.filter(grants::Column::TenantId.eq(t));
        }
        if let Some(a) = &f.agent_id {
            q = q.filter(grants::Column::AgentId.eq(a));
        }
        if let Some(t) = &f.ticket_ref {
            q = q.filter(grants::Column::TicketRef.eq(t));
        }
        let now_ms = to_ms(now);
        match f.state {
            Some(GrantState::Active) => {
                q = q
                    .filter(grants::Column::State.eq("active"))
                    .filter(grants::Column::ExpireAt.gt(now_ms));
            }
            Some(GrantState::Expired) => {
                q = q.filter(
                    grants::Column::State.eq("expired").or(grants::Column::State
                        .eq("active")
                        .and(grants::Column::ExpireAt.lte(now_ms))),
                );
            }
            Some(GrantState::Revoked) => q = q.filter(grants::Column::State.eq("revoked")),
            None => {}
        }
        let rows = q
            .order_by_desc(grants::Column::CreatedAt)
            .order_by_desc(grants::Column::Id)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(self.db())
            .await?;
        let (next, keep) = page.finish(rows.len());
        Ok((rows.into_iter().take(keep).collect(), next))
    }

    /// Moves an active grant's end; false when it is no longer active.
    pub async fn extend_grant(
        &self,
        g: &grants::Model,
        new_end: DateTime<Utc>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<grants::Model>, Error> {
        let now_ms = to_ms(now);
        let txn = self.begin().await?;
        let n = grants::Entity::update_many()
            .col_expr(grants::Column::ExpireAt, Expr::value(to_ms(new_end)))
            .filter(grants::Column::Id.eq(&g.id))
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAt.eq(g.expire_at))
            .filter(grants::Column::ExpireAt.gt(now_ms))
            .exec(&txn)
            .await?
            .rows_affected;
        if n == 0 {
            return Ok(None);
        }
        let mut g = g.clone();
        let previous = g.expire_at;
        g.expire_at = to_ms(new_end);
        let mut e = events::for_grant(EventKind::GrantExtended, &g, actor, now);
        e.attributes.insert(
            "previous_expire_time".into(),
            from_ms(previous).to_rfc3339(),
        );
        outbox::push(&txn, &e, now_ms).await?;
        // The new end must reach other brokers' caches too.
        let mut ended = Ended::default();
        super::revocations::record(&txn, self.is_postgres(), &g.id, "", now_ms).await?;
        ended.grants.push(g.id.clone());
        self.commit(txn, &ended).await?;
        Ok(Some(g))
    }

    /// Ends one grant (revoke or expiry); false when it had already ended.
    pub async fn end_grant(
        &self,
        g: &grants::Model,
        how: &EndGrant,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let txn = self.begin().await?;
        let mut ended = Ended::default();
        let done = end_grant(&txn, self.is_postgres(), g, how, to_ms(now), &mut ended).await?;
        self.commit(txn, &ended).await?;
        Ok(done)
    }

    /// Stores a new one-time credential's hash. A grant has one credential
    /// at a time and it is good until used: re-issuing while it is still
    /// unused replaces it (the earlier one stops working), but once a
    /// credential was used no new one is ever issued for that grant.
    pub async fn set_credential(
        &self,
        g: &grants::Model,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<CredentialIssue, Error> {
        let now_ms = to_ms(now);
        let n = grants::Entity::update_many()
            .col_expr(grants::Column::CredentialHash, Expr::value(hash))
            .filter(grants::Column::Id.eq(&g.id))
            .filter(grants::Column::CredentialUsedAt.is_null())
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAt.gt(now_ms))
            .exec(self.db())
            .await?
            .rows_affected;
        if n == 1 {
            return Ok(CredentialIssue::Issued);
        }
        let used = self
            .grant(&g.id)
            .await?
            .is_some_and(|g| g.credential_used_at.is_some());
        Ok(if used {
            CredentialIssue::AlreadyUsed
        } else {
            CredentialIssue::GrantEnded
        })
    }

    /// Expires active grants past their end; returns how many this call ended.
    pub async fn expire_grants(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let now_ms = to_ms(now);
        let due = grants::Entity::find()
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAt.lte(now_ms))
            .limit(500)
            .all(self.db())
            .await?;
        let how = EndGrant {
            state: GrantState::Expired,
            by: String::new(),
            session_end_reason: "expired",
            actor: events::system(),
            why: "the grant's time ran out".into(),
        };
        let mut n = 0;
        for g in due {
            // Re-check inside the update: an extension may have moved the end.
            let txn = self.begin().await?;
            let mut ended = Ended::default();
            let still_due = grants::Entity::find_by_id(g.id.clone())
                .filter(grants::Column::ExpireAt.lte(now_ms))
                .one(&txn)
                .await?;
            if let Some(g) = still_due
                && end_grant(&txn, self.is_postgres(), &g, &how, now_ms, &mut ended).await?
            {
                n += 1;
            }
            self.commit(txn, &ended).await?;
        }
        Ok(n)
    }

    /// Emits GRANT_ENDING for active grants whose end is less than `notice`
    /// away, once per end: the conditional update on `ending_notice_for`
    /// makes a restart or a second broker skip a notice already sent.
    /// Returns how many this call emitted.
    pub async fn notice_ending_grants(
        &self,
        now: DateTime<Utc>,
        notice: chrono::Duration,
    ) -> Result<usize, Error> {
        let now_ms = to_ms(now);
        let notice_ms = notice.num_milliseconds();
        let not_yet = grants::Column::EndingNoticeFor
            .is_null()
            .or(Expr::col(grants::Column::EndingNoticeFor).ne(Expr::col(grants::Column::ExpireAt)));
        let due = grants::Entity::find()
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAt.gt(now_ms))
            .filter(grants::Column::ExpireAt.lte(now_ms.saturating_add(notice_ms)))
            .filter(not_yet.clone())
            .limit(500)
            .all(self.db())
            .await?;
        let mut n = 0;
        for g in due {
            if !notice_due(from_ms(g.created_at), from_ms(g.expire_at), notice, now) {
                continue;
            }
            let txn = self.begin().await?;
            let won = grants::Entity::update_many()
                .col_expr(grants::Column::EndingNoticeFor, Expr::value(g.expire_at))
                .filter(grants::Column::Id.eq(&g.id))
                .filter(grants::Column::State.eq(GrantState::Active.as_str()))
                .filter(grants::Column::ExpireAt.eq(g.expire_at))
                .filter(not_yet.clone())
                .exec(&txn)
                .await?
                .rows_affected
                == 1;
            if won {
                let e = events::for_grant(EventKind::GrantEnding, &g, events::system(), now);
                outbox::push(&txn, &e, now_ms).await?;
                n += 1;
            }
            self.commit(txn, &Ended::default()).await?;
        }
        Ok(n)
    }

    /// The helpdesk closed a ticket: revoke its grants, cancel its pending
    /// requests, in one transaction.
    pub async fn close_ticket(
        &self,
        tenant_id: &str,
        ticket_ref: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        let now_ms = to_ms(now);
        let txn = self.begin().await?;
        let active = grants::Entity::find()
            .filter(grants::Column::TenantId.eq(tenant_id))
            .filter(grants::Column::TicketRef.eq(ticket_ref))
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .all(&txn)
            .await?;
        let how = EndGrant {
            state: GrantState::Revoked,
            by: "ticket-closed".into(),
            session_end_reason: "ticket-closed",
            actor: actor.clone(),
            why: "the ticket was closed".into(),
        };
        let mut ended = Ended::default();
        let mut revoked = Vec::new();
        for g in active {
            if end_grant(&txn, self.is_postgres(), &g, &how, now_ms, &mut ended).await? {
                revoked.push(g.id.clone());
            }
        }
        let cancelled = Self::cancel_pending_requests(
            &txn,
            tenant_id,
            Some(ticket_ref),
            &actor,
            "ticket closed",
            now,
        )
        .await?;
        self.commit(txn, &ended).await?;
        Ok((revoked, cancelled))
    }
}
