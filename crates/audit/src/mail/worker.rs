//! The mailer worker: resolves notification jobs into e-mails (asking identity
//! who the admins are), then delivers due e-mails with retries and backoff.
//! Each e-mail is claimed with a lease first, so replicas never send it twice,
//! and marked SENT only after the server accepted it.

use super::{MailError, Mailer, OutgoingMail};
use crate::contacts::{ContactSource, ContactsError, TenantContacts};
use crate::domain::event::{Kind, NewEvent};
use crate::domain::notify::{Audience, MAX_ATTEMPTS, backoff, message_id};
use crate::domain::templates::{MailContext, render};
use crate::error::Error;
use crate::store::Store;
use crate::store::entities::job;
use crate::store::outbox::{Failure, NewNotification};
use std::sync::Arc;

/// How long a claimed e-mail stays reserved for one worker.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
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
        }
    }

    /// One pass: resolve due jobs, then send due e-mails.
    pub async fn deliver_once(&self) -> Result<DeliveryReport, Error> {
        let mut report = DeliveryReport::default();
        for job in self.store.due_jobs(BATCH).await? {
            match self.resolve(&job).await {
                Ok(()) => report.resolved += 1,
                Err((reason, permanent)) => {
                    report.unresolved += 1;
                    let attempts = job.attempts + 1;
                    let give_up = permanent || attempts >= MAX_ATTEMPTS;
                    tracing::warn!(job_id = %job.job_id, attempts, give_up, error = %reason, "cannot prepare notification yet");
                    let next = self.store.clock.now() + backoff(attempts);
                    self.store
                        .fail_job(
                            &job.job_id,
                            &Failure {
                                attempts,
                                give_up,
                                next_attempt_time: next.timestamp_micros(),
                                error: reason,
                            },
                        )
                        .await?;
                }
            }
        }
        for n in self.store.due_notifications(BATCH).await? {
            let lease = (self.store.clock.now() + LEASE).timestamp_micros();
            if !self
                .store
                .claim(&n.notification_id, &self.owner, lease)
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
            match self.mailer.send(&mail).await {
                Ok(()) => {
                    report.sent += 1;
                    tracing::info!(notification_id = %n.notification_id, attempts, "notification sent");
                    self.store
                        .mark_sent(&n.notification_id, &self.owner, attempts)
                        .await?;
                }
                Err(e) => {
                    report.failed += 1;
                    let give_up = matches!(e, MailError::Permanent(_)) || attempts >= MAX_ATTEMPTS;
                    tracing::warn!(notification_id = %n.notification_id, attempts, give_up, error = %e, "notification not sent");
                    let next = self.store.clock.now() + backoff(attempts);
                    self.store
                        .mark_failed(
                            &n.notification_id,
                            &self.owner,
                            &Failure {
                                attempts,
                                give_up,
                                next_attempt_time: next.timestamp_micros(),
                                error: e.to_string(),
                            },
                        )
                        .await?;
                }
            }
        }
        Ok(report)
    }

    /// Turns a job into e-mails; on failure says why and whether retrying is pointless.
    async fn resolve(&self, job: &job::Model) -> Result<(), (String, bool)> {
        let transient = |e: Error| (e.to_string(), false);
        let row = self
            .store
            .event(&job.event_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| (format!("event {} not found", job.event_id), true))?;
        let (_, event) = NewEvent::from_canonical(&row.content)
            .ok_or_else(|| (format!("event {} content unreadable", job.event_id), true))?;
        let audience = Audience::parse(&job.audience)
            .ok_or_else(|| (format!("unknown audience {}", job.audience), true))?;
        let contacts = self.contacts.contacts(&job.tenant_id).await.map_err(|e| {
            let permanent = matches!(e, ContactsError::UnknownTenant(_));
            (e.to_string(), permanent)
        })?;
        let mails = compose(&event, audience, &contacts);
        self.store.complete_job(job, mails).await.map_err(transient)
    }
}

/// The e-mails an event means for one audience.
pub fn compose(event: &NewEvent, audience: Audience, c: &TenantContacts) -> Vec<NewNotification> {
    let mut recipients: Vec<String> = match audience {
        Audience::ChiefAdmin => c.chief_admin.iter().map(|a| a.email.clone()).collect(),
        Audience::Admins => c.admins.iter().map(|a| a.email.clone()).collect(),
        Audience::Agent => event
            .agent
            .iter()
            .map(|a| a.email.clone())
            .filter(|e| !e.is_empty())
            .collect(),
    };
    recipients.sort();
    recipients.dedup();
    let agent = event
        .agent
        .clone()
        .or_else(|| event.actor.clone().filter(|a| a.kind == "support_agent"));
    let granted_by = match (&event.granted_by, event.kind) {
        (Some(g), _) => g.name.clone(),
        (None, Kind::RequestApproved | Kind::RequestDenied | Kind::GrantRevoked) => event
            .actor
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let ctx = MailContext {
        locale: c.locale,
        kind: event.kind,
        audience,
        tenant_name: if c.tenant_name.is_empty() {
            event.tenant_id.clone()
        } else {
            c.tenant_name.clone()
        },
        agent_name: agent.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
        agent_email: agent.map(|a| a.email).unwrap_or_default(),
        reason: event.reason.clone(),
        ticket_ref: event.ticket_ref.clone(),
        granted_by,
        expire_time: event.expire_time,
        grant_id: event.grant_id.clone(),
        request_id: event.access_request_id.clone(),
        occur_time: event.occur_time,
    };
    let r = render(&ctx);
    recipients
        .into_iter()
        .map(|to| NewNotification {
            recipient: to,
            subject: r.subject.clone(),
            text: r.text.clone(),
            html: r.html.clone(),
        })
        .collect()
}
