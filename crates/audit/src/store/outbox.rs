//! The notification outbox: jobs (who must hear of an event) and e-mails,
//! claimed with a conditional update so several replicas never send one twice.

use super::Store;
use super::entities::{job, notification};
use crate::domain::notify::Audience;
use crate::error::Error;
use keyholder_kit::paging::Page;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

/// What a sent invitation's stored body becomes.
pub const SENT_INVITATION: &str =
    "(sent; the body is not kept because it carried a one-time invitation token)";

/// A rendered e-mail ready to be stored.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

/// Outcome of a failed attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Attempts including this one.
    pub attempts: i32,
    /// Give up.
    pub give_up: bool,
    /// When to try again (µs), if not giving up.
    pub next_attempt_time_us: i64,
    /// What went wrong.
    pub error: String,
}

impl Store {
    /// Jobs waiting for recipients, due now.
    pub async fn due_jobs(&self, limit: u64) -> Result<Vec<job::Model>, Error> {
        Ok(job::Entity::find()
            .filter(job::Column::State.eq("pending"))
            .filter(job::Column::NextAttemptTimeUs.lte(self.now_us()))
            .order_by_asc(job::Column::CreateTimeUs)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Stores a job's e-mails and marks it done, in one transaction. A second
    /// resolver of the same job adds nothing (one e-mail per job and recipient).
    pub async fn complete_job(
        &self,
        job: &job::Model,
        mails: Vec<NewNotification>,
    ) -> Result<(), Error> {
        let now = self.now_us();
        let txn = self.db.begin().await?;
        for m in mails {
            notification::Entity::insert(notification::ActiveModel {
                notification_id: Set(uuid::Uuid::new_v4().to_string()),
                job_id: Set(job.job_id.clone()),
                tenant_id: Set(job.tenant_id.clone()),
                event_id: Set(job.event_id.clone()),
                recipient: Set(m.recipient),
                subject: Set(m.subject),
                body_text: Set(m.text),
                body_html: Set(m.html),
                state: Set("pending".into()),
                attempts: Set(0),
                last_error: Set(String::new()),
                next_attempt_time_us: Set(now),
                lease_until_us: Set(0),
                lease_owner: Set(String::new()),
                create_time_us: Set(now),
                send_time_us: Set(None),
            })
            .on_conflict_do_nothing_on([
                notification::Column::JobId,
                notification::Column::Recipient,
            ])
            .exec_without_returning(&txn)
            .await?;
        }
        job::Entity::update_many()
            .col_expr(job::Column::State, Expr::value("done"))
            .filter(job::Column::JobId.eq(job.job_id.as_str()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Records a failed attempt to resolve a job's recipients.
    pub async fn fail_job(&self, job_id: &str, f: &Failure) -> Result<(), Error> {
        job::Entity::update_many()
            .col_expr(job::Column::Attempts, Expr::value(f.attempts))
            .col_expr(
                job::Column::State,
                Expr::value(if f.give_up { "failed" } else { "pending" }),
            )
            .col_expr(
                job::Column::NextAttemptTimeUs,
                Expr::value(f.next_attempt_time_us),
            )
            .col_expr(job::Column::LastError, Expr::value(f.error.clone()))
            .filter(job::Column::JobId.eq(job_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// E-mails due now and not claimed by a live worker.
    pub async fn due_notifications(&self, limit: u64) -> Result<Vec<notification::Model>, Error> {
        let now = self.now_us();
        Ok(notification::Entity::find()
            .filter(notification::Column::State.eq("pending"))
            .filter(notification::Column::NextAttemptTimeUs.lte(now))
            .filter(notification::Column::LeaseUntilUs.lt(now))
            .order_by_asc(notification::Column::CreateTimeUs)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Claims an e-mail for `owner` until `lease_until_us`; false when another
    /// worker got it first.
    pub async fn claim(&self, id: &str, owner: &str, lease_until_us: i64) -> Result<bool, Error> {
        let now = self.now_us();
        let r = notification::Entity::update_many()
            .col_expr(
                notification::Column::LeaseUntilUs,
                Expr::value(lease_until_us),
            )
            .col_expr(notification::Column::LeaseOwner, Expr::value(owner))
            .filter(notification::Column::NotificationId.eq(id))
            .filter(notification::Column::State.eq("pending"))
            .filter(notification::Column::LeaseUntilUs.lt(now))
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Extends `owner`'s claim on an e-mail being sent; false when the claim
    /// is no longer `owner`'s (its lease ran out and another worker took it).
    pub async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until_us: i64,
    ) -> Result<bool, Error> {
        let r = notification::Entity::update_many()
            .col_expr(
                notification::Column::LeaseUntilUs,
                Expr::value(lease_until_us),
            )
            .filter(notification::Column::NotificationId.eq(id))
            .filter(notification::Column::State.eq("pending"))
            .filter(notification::Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Frees every claim recorded under `owner`, so they are due at once;
    /// only for an owner whose previous holder is known dead. Returns how many.
    pub async fn release_claims(&self, owner: &str) -> Result<u64, Error> {
        let r = notification::Entity::update_many()
            .col_expr(notification::Column::LeaseUntilUs, Expr::value(0_i64))
            .filter(notification::Column::State.eq("pending"))
            .filter(notification::Column::LeaseOwner.eq(owner))
            .filter(notification::Column::LeaseUntilUs.gt(0_i64))
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected)
    }

    /// Marks an e-mail accepted by the server.
    pub async fn mark_sent(&self, id: &str, owner: &str, attempts: i32) -> Result<(), Error> {
        let now = self.now_us();
        notification::Entity::update_many()
            .col_expr(notification::Column::State, Expr::value("sent"))
            .col_expr(notification::Column::Attempts, Expr::value(attempts))
            .col_expr(notification::Column::SendTimeUs, Expr::value(Some(now)))
            .col_expr(notification::Column::LeaseUntilUs, Expr::value(0_i64))
            .col_expr(notification::Column::LastError, Expr::value(""))
            .filter(notification::Column::NotificationId.eq(id))
            .filter(notification::Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        // An invitation carries a one-time acceptance token: once the mail
        // server has it, the copy here only helps whoever reads the database.
        notification::Entity::update_many()
            .col_expr(notification::Column::BodyText, Expr::value(SENT_INVITATION))
            .col_expr(notification::Column::BodyHtml, Expr::value(""))
            .filter(notification::Column::NotificationId.eq(id))
            .filter(notification::Column::State.eq("sent"))
            .filter(
                notification::Column::JobId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(job::Column::JobId)
                        .from(job::Entity)
                        .and_where(job::Column::Audience.eq(Audience::Invitee.as_str()))
                        .to_owned(),
                ),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records a failed delivery attempt.
    pub async fn mark_failed(&self, id: &str, owner: &str, f: &Failure) -> Result<(), Error> {
        notification::Entity::update_many()
            .col_expr(
                notification::Column::State,
                Expr::value(if f.give_up { "failed" } else { "pending" }),
            )
            .col_expr(notification::Column::Attempts, Expr::value(f.attempts))
            .col_expr(
                notification::Column::NextAttemptTimeUs,
                Expr::value(f.next_attempt_time_us),
            )
            .col_expr(notification::Column::LeaseUntilUs, Expr::value(0_i64))
            .col_expr(
                notification::Column::LastError,
                Expr::value(f.error.clone()),
            )
            .filter(notification::Column::NotificationId.eq(id))
            .filter(notification::Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// One page of a tenant's e-mails, newest first.
    pub async fn list_notifications(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<Vec<notification::Model>, Error> {
        Ok(notification::Entity::find()
            .filter(notification::Column::TenantId.eq(tenant_id))
            .order_by_desc(notification::Column::CreateTimeUs)
            .order_by_asc(notification::Column::NotificationId)
            .offset(page.offset)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?)
    }
}
