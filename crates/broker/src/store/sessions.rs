//! Support sessions: sign-in (one-time credential or standing mode), refusal
//! records, refresh, sign-out, the state CheckAccess caches, and actions.

use super::ending::{end_grant, end_session};
use super::entities::{grants, sessions};
use super::rows::{grant_from, grant_row, session_from, session_row};
use super::{Ended, Store, push};
use crate::domain::grant::Grant;
use crate::domain::session::{SIGN_OUT, Session};
use crate::domain::state::GrantState;
use crate::error::Error;
use crate::events;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::to_stored;
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::Event;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};

/// Why a credential sign-in failed, for the refusal message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialProblem {
    /// No grant in this tenant has this credential for this agent.
    Unknown,
    /// Already used.
    Used,
    /// The grant ended or expired.
    GrantEnded(GrantState),
}

/// The agent's active standing grant in the tenant (whatever its end).
async fn active_standing<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
    agent_id: &str,
) -> Result<Option<Grant>, Error> {
    grants::Entity::find()
        .filter(grants::Column::TenantId.eq(tenant_id))
        .filter(grants::Column::AgentId.eq(agent_id))
        .filter(grants::Column::Standing.eq(true))
        .filter(grants::Column::State.eq(GrantState::Active.as_str()))
        .order_by_desc(grants::Column::CreatedAtUs)
        .one(conn)
        .await?
        .map(grant_from)
        .transpose()
}

async fn grant_of<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<Grant>, Error> {
    grants::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .map(grant_from)
        .transpose()
}

impl Store {
    /// Consumes a one-time credential and opens `session` under its grant,
    /// atomically: of concurrent sign-ins with one credential exactly one wins.
    pub async fn sign_in_with_credential(
        &self,
        credential_hash: &str,
        session: Session,
        now: DateTime<Utc>,
    ) -> Result<Result<(Session, Grant), CredentialProblem>, Error> {
        let now_us = to_stored(now);
        let (tenant_id, agent_id) = (&session.tenant_id, &session.agent_id);
        let txn = self.begin().await?;
        let won = grants::Entity::update_many()
            .col_expr(grants::Column::CredentialUsedAtUs, Expr::value(now_us))
            .filter(grants::Column::TenantId.eq(tenant_id))
            .filter(grants::Column::AgentId.eq(agent_id))
            .filter(grants::Column::CredentialHash.eq(credential_hash))
            .filter(grants::Column::CredentialUsedAtUs.is_null())
            .filter(grants::Column::State.eq(GrantState::Active.as_str()))
            .filter(grants::Column::ExpireAtUs.gt(now_us))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let grant = grants::Entity::find()
            .filter(grants::Column::TenantId.eq(tenant_id))
            .filter(grants::Column::AgentId.eq(agent_id))
            .filter(grants::Column::CredentialHash.eq(credential_hash))
            .one(&txn)
            .await?
            .map(grant_from)
            .transpose()?;
        let grant = match (won, grant) {
            (true, Some(g)) => g,
            (_, None) => return Ok(Err(CredentialProblem::Unknown)),
            (false, Some(g)) => {
                let state = g.state_at(now);
                return Ok(Err(if state != GrantState::Active {
                    CredentialProblem::GrantEnded(state)
                } else {
                    CredentialProblem::Used
                }));
            }
        };
        let opened = self
            .open_session(&txn, session.under(&grant.id), &grant, now)
            .await?;
        self.commit(txn, &Ended::default()).await?;
        Ok(Ok((opened, grant)))
    }

    /// Opens a session under standing mode: reuses the agent's live standing
    /// grant in the tenant, or makes `template` (the domain's standing
    /// grant). A partial unique index allows one active standing grant per
    /// (tenant, agent), so of concurrent first sign-ins one inserts and the
    /// others reuse its grant.
    pub async fn sign_in_standing(
        &self,
        template: Grant,
        session: Session,
        now: DateTime<Utc>,
    ) -> Result<(Session, Grant), Error> {
        let txn = self.begin().await?;
        let mut ended = Ended::default();
        let existing = active_standing(&txn, &template.tenant_id, &template.agent.id).await?;
        let live = match existing {
            Some(g) if g.is_live(now) => Some(g),
            Some(g) => {
                // Past its end but not swept yet: expire it now so the new
                // grant can take its place under the unique index.
                let x = g.expire(now)?;
                end_grant(
                    &txn,
                    self.is_postgres(),
                    &x,
                    events::system(),
                    now,
                    &mut ended,
                )
                .await?;
                None
            }
            None => None,
        };
        let grant = match live {
            Some(g) => g,
            None => {
                let inserted =
                    grants::Entity::insert(grant_row(&template)?.into_active_model().reset_all())
                        .on_conflict(OnConflict::new().do_nothing().to_owned())
                        .exec_without_returning(&txn)
                        .await?;
                if inserted == 1 {
                    template
                } else {
                    // Another sign-in inserted it first (it committed, or
                    // the insert would still be waiting): use that one.
                    active_standing(&txn, &template.tenant_id, &template.agent.id)
                        .await?
                        .filter(|g| g.is_live(now))
                        .ok_or_else(|| {
                            Error::FailedPrecondition(
                                "the standing grant changed meanwhile; sign in again".into(),
                            )
                        })?
                }
            }
        };
        let opened = self
            .open_session(&txn, session.under(&grant.id), &grant, now)
            .await?;
        self.commit(txn, &ended).await?;
        Ok((opened, grant))
    }

    async fn open_session(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        session: Session,
        grant: &Grant,
        now: DateTime<Utc>,
    ) -> Result<Session, Error> {
        session_row(&session)
            .into_active_model()
            .reset_all()
            .insert(txn)
            .await?;
        push(txn, &events::signed_in(&session, grant, now), now).await?;
        Ok(session)
    }

    /// Records an event on its own (a refused sign-in, a reported action).
    pub async fn record_event(&self, e: &Event, now: DateTime<Utc>) -> Result<(), Error> {
        self.record_events(std::slice::from_ref(e), now).await
    }

    /// Records events in one transaction (a batch of decisions).
    pub async fn record_events(&self, events: &[Event], now: DateTime<Utc>) -> Result<(), Error> {
        let txn = self.begin().await?;
        for e in events {
            push(&txn, e, now).await?;
        }
        self.commit(txn, &Ended::default()).await
    }

    /// One session.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, Error> {
        sessions::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?
            .map(session_from)
            .transpose()
    }

    /// A session with its grant (what CheckAccess caches).
    pub async fn session_with_grant(&self, id: &str) -> Result<Option<(Session, Grant)>, Error> {
        let Some(s) = self.session(id).await? else {
            return Ok(None);
        };
        Ok(grant_of(self.db(), &s.grant_id).await?.map(|g| (s, g)))
    }

    /// Swaps a session's refresh token; None when the old one is unknown or
    /// spent, or the session ended.
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<Option<Session>, Error> {
        let Some(s) = sessions::Entity::find()
            .filter(sessions::Column::RefreshHash.eq(old_hash))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let n = sessions::Entity::update_many()
            .col_expr(sessions::Column::RefreshHash, Expr::value(new_hash))
            .filter(sessions::Column::Id.eq(&s.id))
            .filter(sessions::Column::RefreshHash.eq(old_hash))
            .filter(sessions::Column::EndedAtUs.is_null())
            .exec(self.db())
            .await?
            .rows_affected;
        if n != 1 {
            return Ok(None);
        }
        Ok(Some(session_from(s)?))
    }

    /// Ends a session by its agent's sign-out; None when it had already
    /// ended.
    pub async fn sign_out(
        &self,
        s: &Session,
        g: &Grant,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, Error> {
        let out = s.end(SIGN_OUT, now)?;
        let txn = self.begin().await?;
        let mut ended = Ended::default();
        let done = end_session(&txn, self.is_postgres(), &out, g, now, &mut ended, true).await?;
        self.commit(txn, &ended).await?;
        Ok(done.then_some(out))
    }

    /// Ends every live session of an agent (for `reason`, e.g.
    /// `agent-deactivated`); returns how many this call ended.
    pub async fn end_sessions_of_agent(
        &self,
        agent_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, Error> {
        self.end_sessions_of_agent_before(agent_id, reason, None, now)
            .await
    }

    /// [`Store::end_sessions_of_agent`], only for sessions signed in before
    /// `before` (all when `None`).
    pub async fn end_sessions_of_agent_before(
        &self,
        agent_id: &str,
        reason: &str,
        before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<usize, Error> {
        let txn = self.begin().await?;
        let mut q = sessions::Entity::find()
            .filter(sessions::Column::AgentId.eq(agent_id))
            .filter(sessions::Column::EndedAtUs.is_null());
        if let Some(before) = before {
            q = q.filter(sessions::Column::SignedInAtUs.lt(to_stored(before)));
        }
        let live = q.all(&txn).await?;
        let mut ended = Ended::default();
        let mut n = 0;
        for s in live {
            let s = session_from(s)?;
            let Some(g) = grant_of(&txn, &s.grant_id).await? else {
                continue;
            };
            let out = s.end(reason, now)?;
            if end_session(&txn, self.is_postgres(), &out, &g, now, &mut ended, true).await? {
                n += 1;
            }
        }
        self.commit(txn, &ended).await?;
        Ok(n)
    }

    /// A page of a tenant's sessions with their grants, newest first.
    pub async fn list_sessions(
        &self,
        tenant_id: &str,
        active_only: bool,
        page: Page,
    ) -> Result<(Vec<(Session, Option<Grant>)>, String), Error> {
        let mut q = sessions::Entity::find().filter(sessions::Column::TenantId.eq(tenant_id));
        if active_only {
            q = q.filter(sessions::Column::EndedAtUs.is_null());
        }
        let q = q
            .order_by_desc(sessions::Column::SignedInAtUs)
            .order_by_desc(sessions::Column::Id);
        let (rows, next) = super::listing::page_rows(self.db(), q, page).await?;
        let mut out = Vec::new();
        for s in rows {
            let g = grant_of(self.db(), &s.grant_id).await?;
            out.push((session_from(s)?, g));
        }
        Ok((out, next))
    }
}
