//! Appending to the log (hash chain, idempotency, notification jobs in the
//! same transaction) and reading it back. An invitation's e-mail is rendered
//! here, in the same transaction, from the token that arrived beside the
//! event: the log keeps the event without it, the outbox the rendered mail.

use super::entities::{event, head, job, notification};
use super::{Store, is_retryable};
use crate::domain::chain::{GENESIS, link_hash};
use crate::domain::event::{Incoming, Kind};
use crate::domain::invitation_mail;
use crate::domain::notify::{Audience, audiences};
use crate::domain::templates::Rendered;
use crate::error::Error;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::to_stored;
use keyholder_kit::paging::Page;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use std::collections::HashSet;

/// How many times an append is retried after losing a race.
const APPEND_ATTEMPTS: usize = 8;

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Newly stored.
    pub accepted: u32,
    /// Already stored before.
    pub duplicates: u32,
    /// Notification jobs created.
    pub jobs: u32,
}

/// Rows per multi-row insert: big enough that a group commit is a few
/// statements, small enough for both databases' bound-parameter limits
/// (12 columns × 500 rows).
const INSERT_CHUNK: usize = 500;

/// What became of one event of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Stored, with this many notification jobs.
    Stored {
        /// Jobs created for it.
        jobs: u32,
    },
    /// Its id was already stored (or came earlier in the same append).
    Duplicate,
}

impl IngestOutcome {
    /// Counts these fates in.
    pub fn add(&mut self, fates: &[Fate]) {
        for f in fates {
            match f {
                Fate::Stored { jobs } => {
                    self.accepted += 1;
                    self.jobs += jobs;
                }
                Fate::Duplicate => self.duplicates += 1,
            }
        }
    }
}

/// Splits a batch by tenant, keeping each tenant's events in order.
pub fn by_tenant(events: Vec<Incoming>) -> Vec<(String, Vec<Incoming>)> {
    let mut groups: Vec<(String, Vec<Incoming>)> = Vec::new();
    for e in events {
        match groups.iter_mut().find(|(t, _)| *t == e.event.tenant_id) {
            Some((_, list)) => list.push(e),
            None => groups.push((e.event.tenant_id.clone(), vec![e])),
        }
    }
    groups
}

/// Filters over a tenant's events.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only these kinds.
    pub kinds: Vec<Kind>,
    /// Only this agent.
    pub agent_id: String,
    /// Only this session.
    pub session_id: String,
    /// Only this grant.
    pub grant_id: String,
    /// From.
    pub start: Option<DateTime<Utc>>,
    /// Before.
    pub end: Option<DateTime<Utc>>,
}

impl EventQuery {
    fn condition(&self, tenant_id: &str) -> Condition {
        let mut c = Condition::all().add(event::Column::TenantId.eq(tenant_id));
        if !self.kinds.is_empty() {
            c = c.add(event::Column::Kind.is_in(self.kinds.iter().map(|k| k.as_str())));
        }
        if !self.agent_id.is_empty() {
            c = c.add(event::Column::AgentId.eq(self.agent_id.as_str()));
        }
        if !self.session_id.is_empty() {
            c = c.add(event::Column::SessionId.eq(self.session_id.as_str()));
        }
        if !self.grant_id.is_empty() {
            c = c.add(event::Column::GrantId.eq(self.grant_id.as_str()));
        }
        if let Some(t) = self.start {
            c = c.add(event::Column::OccurTimeUs.gte(to_stored(t)));
        }
        if let Some(t) = self.end {
            c = c.add(event::Column::OccurTimeUs.lt(to_stored(t)));
        }
        c
    }
}

/// The invitee's e-mail, rendered now, and a job already done that it hangs
/// from (an e-mail always belongs to a job; this one has nothing to resolve).
fn invitation_rows(
    tenant: &str,
    event_id: &str,
    recipient: &str,
    r: Rendered,
    now: i64,
) -> (job::ActiveModel, notification::ActiveModel) {
    let job_id = uuid::Uuid::new_v4().to_string();
    let job = job::ActiveModel {
        job_id: Set(job_id.clone()),
        tenant_id: Set(tenant.to_string()),
        event_id: Set(event_id.to_string()),
        audience: Set(Audience::Invitee.as_str().to_string()),
        state: Set("done".into()),
        attempts: Set(0),
        next_attempt_time_us: Set(now),
        last_error: Set(String::new()),
        create_time_us: Set(now),
    };
    let mail = notification::ActiveModel {
        notification_id: Set(uuid::Uuid::new_v4().to_string()),
        job_id: Set(job_id),
        tenant_id: Set(tenant.to_string()),
        event_id: Set(event_id.to_string()),
        recipient: Set(recipient.to_string()),
        subject: Set(r.subject),
        body_text: Set(r.text),
        body_html: Set(r.html),
        state: Set("pending".into()),
        attempts: Set(0),
        last_error: Set(String::new()),
        next_attempt_time_us: Set(now),
        lease_until_us: Set(0),
        lease_owner: Set(String::new()),
        create_time_us: Set(now),
        send_time_us: Set(None),
    };
    (job, mail)
}

impl Store {
    /// Appends events, each tenant's in its own transaction, skipping ids
    /// already stored (without group commit: the batch path of tools such as
    /// the data generator; the service goes through `GroupCommit`).
    pub async fn ingest(&self, events: Vec<Incoming>) -> Result<IngestOutcome, Error> {
        let mut total = IngestOutcome::default();
        for (tenant, list) in by_tenant(events) {
            total.add(&self.append_with_retries(&tenant, &list).await?);
        }
        Ok(total)
    }

    /// Appends one tenant's events in one transaction, retrying lost races;
    /// says for each event whether it was stored (with its number of jobs)
    /// or was a duplicate.
    pub(crate) async fn append_with_retries(
        &self,
        tenant: &str,
        events: &[Incoming],
    ) -> Result<Vec<Fate>, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.append_tenant(tenant, events).await {
                Ok(o) => return Ok(o),
                Err(Error::Conflict) if attempt < APPEND_ATTEMPTS => {}
                Err(Error::Db(e)) if attempt < APPEND_ATTEMPTS && is_retryable(&e) => {
                    tracing::debug!(tenant_id = %tenant, error = %e, "append raced; retrying");
                }
                Err(e) => return Err(e),
            }
            tokio::task::yield_now().await;
        }
    }

    async fn append_tenant(&self, tenant: &str, events: &[Incoming]) -> Result<Vec<Fate>, Error> {
        let txn = self.db.begin().await?;
        // Writing first takes SQLite's write lock before anything is read, so
        // the head we read below cannot change under us; on PostgreSQL the
        // row lock of SELECT … FOR UPDATE does the same.
        head::Entity::insert(head::ActiveModel {
            tenant_id: Set(tenant.to_string()),
            sequence: Set(0),
            hash: Set(GENESIS.to_string()),
        })
        .on_conflict_do_nothing_on([head::Column::TenantId])
        .exec_without_returning(&txn)
        .await?;
        let mut q = head::Entity::find_by_id(tenant.to_string());
        if keyholder_kit::db::is_postgres(&self.db) {
            q = q.lock_exclusive();
        }
        let h = q
            .one(&txn)
            .await?
            .ok_or_else(|| Error::Internal("chain head vanished".into()))?;

        let ids: Vec<String> = events.iter().map(|e| e.event.event_id.clone()).collect();
        let existing: HashSet<String> = event::Entity::find()
            .select_only()
            .column(event::Column::EventId)
            .filter(event::Column::EventId.is_in(ids))
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();

        let now = self.now_us();
        let mut seen = HashSet::new();
        let mut fates = Vec::with_capacity(events.len());
        let (mut seq, mut prev) = (h.sequence, h.hash.clone());
        let mut rows = Vec::new();
        let mut jobs = Vec::new();
        let mut mails = Vec::new();
        let mut logins: Vec<(i64, &crate::domain::event::NewEvent)> = Vec::new();
        for Incoming {
            event: e,
            invitation_token,
        } in events
        {
            if existing.contains(&e.event_id) || !seen.insert(e.event_id.clone()) {
                fates.push(Fate::Duplicate);
                continue;
            }
            let jobs_before = jobs.len();
            seq += 1;
            if matches!(e.kind, Kind::SignIn | Kind::SignInRefused | Kind::SignOut) {
                logins.push((seq, e));
            }
            let content = e.canonical(seq)?;
            let hash = link_hash(&prev, &content);
            rows.push(event::ActiveModel {
                event_id: Set(e.event_id.clone()),
                tenant_id: Set(tenant.to_string()),
                sequence: Set(seq),
                kind: Set(e.kind.as_str().to_string()),
                occur_time_us: Set(to_stored(e.occur_time)),
                record_time_us: Set(now),
                agent_id: Set(e.agent_id().to_string()),
                session_id: Set(e.session_id.clone()),
                grant_id: Set(e.grant_id.clone()),
                content: Set(content),
                prev_hash: Set(prev.clone()),
                hash: Set(hash.clone()),
            });
            for audience in audiences(e.kind) {
                jobs.push(job::ActiveModel {
                    job_id: Set(uuid::Uuid::new_v4().to_string()),
                    tenant_id: Set(tenant.to_string()),
                    event_id: Set(e.event_id.clone()),
                    audience: Set(audience.as_str().to_string()),
                    state: Set("pending".into()),
                    attempts: Set(0),
                    next_attempt_time_us: Set(now),
                    last_error: Set(String::new()),
                    create_time_us: Set(now),
                });
            }
            if let (Kind::IntegratorInvited, Some(token)) = (e.kind, invitation_token) {
                let rendered = invitation_mail::from_event(e, token).and_then(|inv| {
                    invitation_mail::render(&inv)
                        .map(|r| (inv.recipient, r))
                        .map_err(|err| {
                            tracing::warn!(error = %err, "invitation template failed");
                            "the invitation template failed"
                        })
                });
                match rendered {
                    Ok((recipient, r)) => {
                        let (job, mail) = invitation_rows(tenant, &e.event_id, recipient, r, now);
                        jobs.push(job);
                        mails.push(mail);
                    }
                    // Logged all the same: the event happened.
                    Err(why) => {
                        tracing::warn!(event_id = %e.event_id, why, "invitation not mailed")
                    }
                }
            }
            prev = hash;
            fates.push(Fate::Stored {
                jobs: u32::try_from(jobs.len() - jobs_before).unwrap_or(u32::MAX),
            });
        }
        if rows.is_empty() {
            txn.rollback().await?;
            return Ok(fates);
        }
        for chunk in rows.chunks(INSERT_CHUNK) {
            event::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        // The login history's read model moves with the log, in this
        // transaction: a page never shows a sign-in the log does not hold.
        super::sign_ins::project_events(&txn, tenant, &logins).await?;
        for chunk in jobs.chunks(INSERT_CHUNK) {
            job::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        for chunk in mails.chunks(100) {
            notification::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        let moved = head::Entity::update_many()
            .col_expr(head::Column::Sequence, seq.into())
            .col_expr(head::Column::Hash, prev.into())
            .filter(head::Column::TenantId.eq(tenant))
            .filter(head::Column::Sequence.eq(h.sequence))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            txn.rollback().await?;
            return Err(Error::Conflict);
        }
        txn.commit().await?;
        Ok(fates)
    }

    /// One page of a tenant's events in chain order.
    pub async fn list_events(
        &self,
        tenant_id: &str,
        query: &EventQuery,
        page: Page,
    ) -> Result<Vec<event::Model>, Error> {
        Ok(event::Entity::find()
            .filter(query.condition(tenant_id))
            .order_by_asc(event::Column::Sequence)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?)
    }

    /// Up to `limit` matching events after `after_sequence`, in chain order
    /// (for streaming exports without offsets).
    pub async fn events_after(
        &self,
        tenant_id: &str,
        query: &EventQuery,
        after_sequence: i64,
        limit: u64,
    ) -> Result<Vec<event::Model>, Error> {
        Ok(event::Entity::find()
            .filter(query.condition(tenant_id))
            .filter(event::Column::Sequence.gt(after_sequence))
            .order_by_asc(event::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// One page of sign-ins and refused sign-ins, newest first.
    pub async fn login_events(
        &self,
        tenant_id: &str,
        query: &EventQuery,
        page: Page,
    ) -> Result<Vec<event::Model>, Error> {
        Ok(event::Entity::find()
            .filter(query.condition(tenant_id))
            .order_by_desc(event::Column::OccurTimeUs)
            .order_by_desc(event::Column::Sequence)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?)
    }

    /// The sign-out events of these sessions.
    pub async fn sign_outs(
        &self,
        tenant_id: &str,
        session_ids: Vec<String>,
    ) -> Result<Vec<event::Model>, Error> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(event::Entity::find()
            .filter(event::Column::TenantId.eq(tenant_id))
            .filter(event::Column::Kind.eq(Kind::SignOut.as_str()))
            .filter(event::Column::SessionId.is_in(session_ids))
            .order_by_asc(event::Column::Sequence)
            .all(&self.db)
            .await?)
    }

    /// One event by id.
    pub async fn event(&self, event_id: &str) -> Result<Option<event::Model>, Error> {
        Ok(event::Entity::find_by_id(event_id.to_string())
            .one(&self.db)
            .await?)
    }
}
