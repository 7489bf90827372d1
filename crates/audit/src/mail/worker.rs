//! The mailer worker: resolves notification jobs into e-mails (asking identity
//! who the admins are), then delivers due e-mails with retries and backoff.
//! Each e-mail is claimed with a short lease first, so replicas never send it
//! twice, renewed while the server is talking, and marked SENT only after the
//! server accepted it. Transient failures (server or identity unreachable,
//! 4xx) retry forever with backoff capped at an hour; only permanent ones (5xx
//! rejection, bad address, unknown tenant) end as FAILED.

use super::{MailError, Mailer, OutgoingMail};
use crate::contacts::{ContactSource, ContactsError, TenantContacts};
use crate::domain::event::NewEvent;
use crate::domain::facts::{Receipt, render_with_receipt};
use crate::domain::notify::{
    Audience, FailureKind, NextStep, STALE_AFTER, after_failure, message_id,
};
use crate::domain::templates::TemplateError;
use crate::error::Error;
use crate::store::Store;
use crate::store::entities::job;
use crate::store::outbox::{Failure, NewNotification};
use keyholder_kit::instant::to_stored;
use std::sync::Arc;

/// How long a claimed e-mail stays reserved for one worker without a
/// renewal: what a crash costs when no restart on the same data dir
/// reclaims the mail at once.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// How often a claim is renewed while its e-mail is being sent: a third of
/// the lease, so two missed renewals still leave it held.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Rows handled per pass.
const BATCH: u64 = 50;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Jobs turned into e-mails.
    pub resolved: u32,
    /// Jobs that could not be resolved yet.
    pub unresolved: u32,
    /// E-mails accepted by the server.
    pub sent: u32,
    /// E-mails that failed this time (retried later or given up).
    pub failed: u32,
}

/// Drives the outbox. Cheap to clone.
#[derive(Clone)]
pub struct MailWorker {
    store: Store,
    contacts: Arc<dyn ContactSource>,
    mailer: Arc<dyn Mailer>,
    from: String,
    owner: String,
    renew_every: std::time::Duration,
}

impl MailWorker {
    /// A worker sending as `from`.
    pub fn new(
        store: Store,
        contacts: Arc<dyn ContactSource>,
        mailer: Arc<dyn Mailer>,
        from: String,
    ) -> Self {
        Self {
            store,
            contacts,
            mailer,
            from,
            owner: uuid::Uuid::new_v4().to_string(),
            renew_every: RENEW_EVERY,
        }
    }

    /// Claims as `owner` (see [`super::owner::MailOwner`]) instead of a
    /// fresh id.
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.owner = owner.to_string();
        self
    }

    /// Renews claims this often instead of [`RENEW_EVERY`] (tests).
    pub fn with_renewal(mut self, every: std::time::Duration) -> Self {
        self.renew_every = every;
        self
    }

    /// The id this worker claims under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Frees the claims a crashed predecessor left under this worker's id,
    /// so they go out on the next pass. Only for an inherited id, which
    /// nobody alive holds (see [`super::owner::MailOwner::reclaims`]).
    pub async fn reclaim(&self) -> Result<u64, Error> {
        let n = self.store.release_claims(&self.owner).await?;
        if n > 0 {
            tracing::info!(notifications = n, owner = %self.owner, "reclaimed e-mails a crashed mailer left claimed");
        }
        Ok(n)
    }

    /// One pass: resolve due jobs, then send due e-mails.
    pub async fn deliver_once(&self) -> Result<DeliveryReport, Error> {
        let mut report = DeliveryReport::default();
        for job in self.store.due_jobs(BATCH).await? {
            match self.resolve(&job).await {
                Ok(()) => report.resolved += 1,
                Err((reason, kind)) => {
                    report.unresolved += 1;
                    let attempts = job.attempts + 1;
                    let age = self.age(job.create_time_us);
                    let failure = self.failure(kind, attempts, age, reason);
                    log_failure("job", &job.job_id, &job.tenant_id, age, &failure);
                    self.store.fail_job(&job.job_id, &failure).await?;
                }
            }
        }
        for n in self.store.due_notifications(BATCH).await? {
            if !self
                .store
                .claim(&n.notification_id, &self.owner, self.lease_until_us())
                .await?
            {
                continue;
            }
            let mail = OutgoingMail {
                from: self.from.clone(),
                to: n.recipient.clone(),
                subject: n.subject.clone(),
                text: n.body_text.clone(),
                html: n.body_html.clone(),
                message_id: message_id(&n.notification_id),
            };
            let attempts = n.attempts + 1;
            let Some(sent) = self.send_holding(&n.notification_id, &mail).await else {
                continue;
            };
            match sent {
                Ok(()) => {
                    report.sent += 1;
                    tracing::info!(notification_id = %n.notification_id, attempts, "notification sent");
                    self.store
                        .mark_sent(&n.notification_id, &self.owner, attempts)
                        .await?;
                }
                Err(e) => {
                    report.failed += 1;
                    let age = self.age(n.create_time_us);
                    let failure = self.failure(e.kind(), attempts, age, e.to_string());
                    log_failure(
                        "notification",
                        &n.notification_id,
                        &n.tenant_id,
                        age,
                        &failure,
                    );
                    self.store
                        .mark_failed(&n.notification_id, &self.owner, &failure)
                        .await?;
                }
            }
        }
        Ok(report)
    }

    /// End of a lease taken or renewed now (µs).
    fn lease_until_us(&self) -> i64 {
        to_stored(self.store.clock.now() + LEASE)
    }

    /// Sends `mail`, renewing the claim on `id` while the server talks.
    /// `None` when the claim was lost meanwhile (another worker took it after
    /// the lease ran out): the send is dropped unfinished, since finishing it
    /// would race that worker's copy.
    async fn send_holding(&self, id: &str, mail: &OutgoingMail) -> Option<Result<(), MailError>> {
        let send = self.mailer.send(mail);
        tokio::pin!(send);
        let mut renew = tokio::time::interval(self.renew_every);
        // A slow renewal must not be followed by a burst of catch-up ones.
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and the claim is fresh.
        renew.tick().await;
        loop {
            tokio::select! {
                sent = &mut send => return Some(sent),
                _ = renew.tick() => {
                    match self.store.renew_lease(id, &self.owner, self.lease_until_us()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(notification_id = %id, "claim lost while sending; another worker has the e-mail");
                            return None;
                        }
                        // The lease still runs; the next tick tries again.
                        Err(e) => tracing::warn!(notification_id = %id, error = %e, "renewing the claim failed"),
                    }
                }
            }
        }
    }

    /// The record of a failed attempt: retry later, or give up.
    fn failure(
        &self,
        kind: FailureKind,
        attempts: i32,
        age: chrono::Duration,
        error: String,
    ) -> Failure {
        let now = self.store.clock.now();
        match after_failure(kind, attempts, age) {
            NextStep::RetryAfter(wait) => Failure {
                attempts,
                give_up: false,
                next_attempt_time_us: to_stored(now + wait),
                error,
            },
            NextStep::GiveUp => Failure {
                attempts,
                give_up: true,
                next_attempt_time_us: to_stored(now),
                error,
            },
        }
    }

    /// How long ago a row created at `create_time_us` was queued.
    fn age(&self, create_time_us: i64) -> chrono::Duration {
        chrono::Duration::microseconds(
            to_stored(self.store.clock.now()).saturating_sub(create_time_us),
        )
    }

    /// Turns a job into e-mails; on failure says why and whether retrying can help.
    async fn resolve(&self, job: &job::Model) -> Result<(), (String, FailureKind)> {
        let transient = |e: Error| (e.to_string(), FailureKind::Transient);
        let hopeless = |why: String| (why, FailureKind::Hopeless);
        let row = self
            .store
            .event(&job.event_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| hopeless(format!("event {} not found", job.event_id)))?;
        let (_, event) = NewEvent::from_canonical(&row.content)
            .ok_or_else(|| hopeless(format!("event {} content unreadable", job.event_id)))?;
        let audience = Audience::parse(&job.audience)
            .ok_or_else(|| hopeless(format!("unknown audience {}", job.audience)))?;
        let contacts = self.contacts.contacts(&job.tenant_id).await.map_err(|e| {
            let kind = match e {
                ContactsError::UnknownTenant(_) => FailureKind::Hopeless,
                ContactsError::Unavailable(_) => FailureKind::Transient,
            };
            (e.to_string(), kind)
        })?;
        let receipt = Receipt {
            sequence: row.sequence,
            hash: row.hash.clone(),
        };
        let mails = compose(&event, audience, &contacts, Some(&receipt))
            .map_err(|e| (e.to_string(), FailureKind::Transient))?;
        self.store.complete_job(job, mails).await.map_err(transient)
    }
}

/// Logs a failed attempt: quietly while young, as a warning once the mail has
/// waited longer than [`STALE_AFTER`] (at most hourly per row, given the
/// backoff cap) or when it is given up.
fn log_failure(what: &str, id: &str, tenant_id: &str, age: chrono::Duration, f: &Failure) {
    let age_minutes = age.num_minutes();
    let attempts = f.attempts;
    let error = f.error.as_str();
    if f.give_up {
        tracing::warn!(
            what,
            id,
            tenant_id,
            attempts,
            age_minutes,
            error,
            "notification given up"
        );
    } else if age >= STALE_AFTER {
        tracing::warn!(
            what,
            id,
            tenant_id,
            attempts,
            age_minutes,
            error,
            "notification still undelivered after more than an hour, retrying"
        );
    } else {
        tracing::info!(
            what,
            id,
            tenant_id,
            attempts,
            age_minutes,
            error,
            "notification not delivered yet, retrying"
        );
    }
}

/// The e-mails an event means for one audience. A template that does not
/// render is a bug fixed by a new release, so the job waits for it rather
/// than drop the mail.
pub fn compose(
    event: &NewEvent,
    audience: Audience,
    c: &TenantContacts,
    receipt: Option<&Receipt>,
) -> Result<Vec<NewNotification>, TemplateError> {
    let mut recipients: Vec<String> = match audience {
        Audience::ChiefAdmin => c.chief_admin.iter().map(|a| a.email.clone()).collect(),
        Audience::Admins => c.admins.iter().map(|a| a.email.clone()).collect(),
        Audience::Agent => event
            .agent
            .iter()
            .map(|a| a.email.clone())
            .filter(|e| !e.is_empty())
            .collect(),
        // Only while they are still an admin: a dismissed or demoted admin
        // no longer hears about the tenant's access.
        Audience::GrantedBy => event
            .granted_by
            .iter()
            .filter(|g| {
                c.admins
                    .iter()
                    .any(|a| !g.email.is_empty() && a.email.eq_ignore_ascii_case(&g.email))
            })
            .map(|g| g.email.clone())
            .collect(),
        // Rendered at ingest, with the token; never through a job.
        Audience::Invitee => Vec::new(),
    };
    recipients.sort();
    recipients.dedup();
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let Some(r) = render_with_receipt(event, audience, c.locale, &c.tenant_name, receipt) else {
        return Ok(Vec::new());
    };
    let r = r?;
    Ok(recipients
        .into_iter()
        .map(|to| NewNotification {
            recipient: to,
            subject: r.subject.clone(),
            text: r.text.clone(),
            html: r.html.clone(),
        })
        .collect())
}
