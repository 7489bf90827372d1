//! Grants: reading, listing, extending, ending, the one-time credential,
//! expiry, the ending notice and ticket closing. The domain decides each
//! change ([`Extended`], [`EndedGrant`]); this writes it conditionally.

use super::ending::end_grant;
use super::entities::grants;
use super::listing::{Columns, ListFilter, columns, page_of};
use super::rows::grant_from;
use super::{Ended, Store, push};
use crate::domain::grant::{EndCause, EndedGrant, Extended, Grant};
use crate::domain::notice::notice_due;
use crate::domain::state::GrantState;
use crate::error::Error;
use crate::events;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::{duration_to_stored, to_stored};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Actor;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

/// Filters of a grant listing.
pub type GrantFilter = ListFilter<GrantState>;

/// The columns a grant listing reads.
const LISTED: Columns<grants::Column> = columns!(grants);

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

pub(super) fn all_from(rows: Vec<grants::Model>) -> Result<Vec<Grant>, Error> {
    rows.into_iter().map(grant_from).collect()
}

impl Store {
    /// One grant.
    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, Error> {
        grants::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?
            .map(grant_from)
            .transpose()
    }

    /// A page of grants, newest first, plus the next page token.
    pub async fn list_grants(
        &self,
        f: &GrantFilter,
        page: Page,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Grant>, String), Error> {
        let (rows, next) =
            page_of::<grants::Entity, _, _>(self.db(), &LISTED, f, page, now).await?;
        Ok((all_from(rows)?, next))
    }

    /// Writes an extension if the grant is still active with the end it was
    /// read with; false when it changed or ended meanwhile.
    pub async fn extend_grant(
        &self,
        x: &Extended,
        admin: Actor,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let now_us = to_stored(now);
        let txn = self.begin().await?;
        let n = grants::Entity::update_many()
            .col_expr(
                grants::Column::ExpireAtUs,
                Expr::value(to_stored(x.grant.expire_at)),
            )
            .filter(grants::Column::Id.eq(&x.grant.id))
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAtUs.eq(to_stored(x.previous_end)))
            .filter(grants::Column::ExpireAtUs.gt(now_us))
            .exec(&txn)
            .await?
            .rows_affected;
        if n == 0 {
            return Ok(false);
        }
        push(&txn, &events::grant_extended(x, admin, now), now).await?;
        // The new end must reach other brokers' caches too.
        let mut ended = Ended::default();
        super::revocations::record(&txn, self.is_postgres(), &x.grant.id, "", now_us).await?;
        ended.grants.push(x.grant.id.clone());
        self.commit(txn, &ended).await?;
        Ok(true)
    }

    /// Writes one grant's end (revoke or expiry); false when it had already
    /// ended.
    pub async fn end_grant(
        &self,
        x: &EndedGrant,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let txn = self.begin().await?;
        let mut ended = Ended::default();
        let done = end_grant(&txn, self.is_postgres(), x, actor, now, &mut ended).await?;
        self.commit(txn, &ended).await?;
        Ok(done)
    }

    /// Stores a new one-time credential's hash. A grant has one credential
    /// at a time and it is good until used: re-issuing while it is still
    /// unused replaces it (the earlier one stops working), but once a
    /// credential was used no new one is ever issued for that grant.
    pub async fn set_credential(
        &self,
        g: &Grant,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<CredentialIssue, Error> {
        let n = grants::Entity::update_many()
            .col_expr(grants::Column::CredentialHash, Expr::value(hash))
            .filter(grants::Column::Id.eq(&g.id))
            .filter(grants::Column::CredentialUsedAtUs.is_null())
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAtUs.gt(to_stored(now)))
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
        let now_us = to_stored(now);
        let due = grants::Entity::find()
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAtUs.lte(now_us))
            .limit(500)
            .all(self.db())
            .await?;
        let mut n = 0;
        for g in all_from(due)? {
            // Re-read inside the transaction: an extension may have moved the end.
            let txn = self.begin().await?;
            let mut ended = Ended::default();
            let still_due = grants::Entity::find_by_id(g.id.clone())
                .filter(grants::Column::ExpireAtUs.lte(now_us))
                .one(&txn)
                .await?
                .map(grant_from)
                .transpose()?;
            if let Some(x) = still_due.and_then(|g| g.expire(now).ok())
                && end_grant(
                    &txn,
                    self.is_postgres(),
                    &x,
                    events::system(),
                    now,
                    &mut ended,
                )
                .await?
            {
                n += 1;
            }
            self.commit(txn, &ended).await?;
        }
        Ok(n)
    }

    /// Emits GRANT_ENDING for active grants whose end is less than `notice`
    /// away, once per end: the conditional update on `ending_notice_for_us`
    /// makes a restart or a second broker skip a notice already sent.
    /// Returns how many this call emitted.
    pub async fn notice_ending_grants(
        &self,
        now: DateTime<Utc>,
        notice: chrono::Duration,
    ) -> Result<usize, Error> {
        let now_us = to_stored(now);
        let not_yet = grants::Column::EndingNoticeForUs
            .is_null()
            .or(Expr::col(grants::Column::EndingNoticeForUs)
                .ne(Expr::col(grants::Column::ExpireAtUs)));
        let due = grants::Entity::find()
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAtUs.gt(now_us))
            .filter(
                grants::Column::ExpireAtUs.lte(now_us.saturating_add(duration_to_stored(notice))),
            )
            .filter(not_yet.clone())
            .limit(500)
            .all(self.db())
            .await?;
        let mut n = 0;
        for g in all_from(due)? {
            if !notice_due(g.created_at, g.expire_at, notice, now) {
                continue;
            }
            let end_us = to_stored(g.expire_at);
            let txn = self.begin().await?;
            let won = grants::Entity::update_many()
                .col_expr(grants::Column::EndingNoticeForUs, Expr::value(end_us))
                .filter(grants::Column::Id.eq(&g.id))
                .filter(grants::Column::State.eq(GrantState::Active.as_str()))
                .filter(grants::Column::ExpireAtUs.eq(end_us))
                .filter(not_yet.clone())
                .exec(&txn)
                .await?
                .rows_affected
                == 1;
            if won {
                push(&txn, &events::grant_ending(&g, now), now).await?;
                n += 1;
            }
            self.commit(txn, &Ended::default()).await?;
        }
        Ok(n)
    }

    /// The helpdesk closed a ticket: revoke its grants, cancel its pending
    /// requests, in one transaction. Returns (revoked grant ids, cancelled
    /// request ids).
    pub async fn close_ticket(
        &self,
        tenant_id: &str,
        ticket_ref: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        let txn = self.begin().await?;
        let active = grants::Entity::find()
            .filter(grants::Column::TenantId.eq(tenant_id))
            .filter(grants::Column::TicketRef.eq(ticket_ref))
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .all(&txn)
            .await?;
        let mut ended = Ended::default();
        let mut revoked = Vec::new();
        for g in all_from(active)? {
            let x = g.end(
                "ticket-closed",
                EndCause::TicketClosed,
                "the ticket was closed".into(),
                now,
            )?;
            if end_grant(&txn, self.is_postgres(), &x, actor.clone(), now, &mut ended).await? {
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
