//! gRPC handlers: authenticate, translate, call the store, translate back.

mod convert;
pub mod export;

use crate::domain::event::MAX_BATCH;
use crate::domain::login_cursor;
use crate::error::Error;
use crate::ledger::Ledger;
use crate::store::Store;
use crate::store::group_commit::GroupCommit;
use crate::store::sign_ins::LoginQuery;
use keyholder_kit::auth::Principal;
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1 as pb;
use keyholder_proto::audit::v1::audit_service_server::AuditService;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Scope a producer needs to ingest events.
pub const INGEST_SCOPE: &str = "audit.events.write";

/// The AuditService implementation.
#[derive(Clone)]
pub struct AuditApi {
    pub(crate) store: Store,
    /// Where appends go: concurrent ones share a transaction.
    pub(crate) appender: GroupCommit,
    pub(crate) ledger: Ledger,
    pub(crate) mail_wakeup: Arc<Notify>,
}

/// The listing a login history token belongs to: tenant and every filter.
fn login_scope(tenant: &str, q: &LoginQuery) -> Vec<u8> {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| keyholder_kit::instant::to_stored(t).to_string())
            .unwrap_or_default()
    };
    login_cursor::scope(&[
        tenant,
        &q.agent_id,
        if q.exclude_refused { "1" } else { "0" },
        &time(q.start),
        &time(q.end),
    ])
}

fn tenant_arg(tenant_id: &str) -> Result<(), Error> {
    if tenant_id.trim().is_empty() {
        return Err(Error::InvalidArgument("tenant_id is required".into()));
    }
    Ok(())
}

impl AuditApi {
    async fn admin<T>(&self, req: &Request<T>, tenant_id: &str) -> Result<Principal, Error> {
        let p = keyholder_kit::gate::principal(req)?;
        tenant_arg(tenant_id)?;
        p.require_admin_of(tenant_id)?;
        Ok(p)
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn ingest_events(
        &self,
        request: Request<pb::IngestEventsRequest>,
    ) -> Result<Response<pb::IngestEventsResponse>, Status> {
        let p = keyholder_kit::gate::principal(&request).map_err(Error::from)?;
        p.require_scope(INGEST_SCOPE).map_err(Error::from)?;
        let events = request.into_inner().events;
        if events.len() > MAX_BATCH {
            return Err(
                Error::Event(crate::domain::event::EventError::BatchTooLarge(
                    events.len(),
                ))
                .into(),
            );
        }
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| convert::event_from_proto(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        let mut per_tenant: Vec<(String, u64)> = Vec::new();
        for e in &events {
            match per_tenant.iter_mut().find(|(t, _)| *t == e.event.tenant_id) {
                Some((_, n)) => *n += 1,
                None => per_tenant.push((e.event.tenant_id.clone(), 1)),
            }
        }
        let outcome = self.appender.ingest(events).await?;
        // Duplicates count too: a checkpoint comes a little early, never late.
        for (tenant, n) in per_tenant {
            // The events are stored; a failed checkpoint is retried by the
            // timer rather than failing an ingest the producer would repeat.
            if let Err(e) = self.ledger.note_ingested(&tenant, n).await {
                tracing::warn!(tenant_id = %tenant, error = %e, "checkpoint after ingest failed");
            }
        }
        if outcome.jobs > 0 {
            self.mail_wakeup.notify_one();
        }
        tracing::debug!(caller = %p.id, accepted = outcome.accepted, duplicates = outcome.duplicates, "events ingested");
        Ok(Response::new(pb::IngestEventsResponse {
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
        }))
    }

    async fn list_login_history(
        &self,
        request: Request<pb::ListLoginHistoryRequest>,
    ) -> Result<Response<pb::ListLoginHistoryResponse>, Status> {
        let tenant = request.get_ref().tenant_id.clone();
        self.admin(&request, &tenant).await?;
        let r = request.into_inner();
        // Only the size: the token is the login history's own (a position,
        // not an offset).
        let limit = Page::parse(r.page_size, "").map_err(Error::from)?.limit;
        let query = LoginQuery {
            agent_id: r.agent_id,
            exclude_refused: r.exclude_refused,
            start: convert::time_from(r.start_time),
            end: convert::time_from(r.end_time),
        };
        if let (Some(s), Some(e)) = (query.start, query.end)
            && s > e
        {
            return Err(
                Error::InvalidArgument("start_time must not be after end_time".into()).into(),
            );
        }
        let scope = login_scope(&tenant, &query);
        let after = if r.page_token.is_empty() {
            None
        } else {
            Some(login_cursor::decode(&scope, &r.page_token).map_err(Error::from)?)
        };
        let mut rows = self.store.login_page(&tenant, &query, after, limit).await?;
        let keep = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_page_token = if rows.len() > keep {
            rows.truncate(keep);
            rows.last()
                .map(|(c, _)| login_cursor::encode(&scope, *c))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let entries = rows
            .into_iter()
            .map(|(_, e)| convert::login_entry(e))
            .collect();
        Ok(Response::new(pb::ListLoginHistoryResponse {
            entries,
            next_page_token,
        }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let tenant = request.get_ref().tenant_id.clone();
        self.admin(&request, &tenant).await?;
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token).map_err(Error::from)?;
        let query = convert::query_from(r.filter)?;
        let rows = self.store.list_events(&tenant, &query, page).await?;
        let (next_page_token, keep) = page.finish(rows.len());
        let events = rows
            .into_iter()
            .take(keep)
            .map(convert::recorded)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::ListEventsResponse {
            events,
            next_page_token,
        }))
    }

    type ExportEventsStream = ReceiverStream<Result<pb::ExportEventsResponse, Status>>;

    async fn export_events(
        &self,
        request: Request<pb::ExportEventsRequest>,
    ) -> Result<Response<Self::ExportEventsStream>, Status> {
        let tenant = request.get_ref().tenant_id.clone();
        self.admin(&request, &tenant).await?;
        let r = request.into_inner();
        let format = match pb::ExportFormat::try_from(r.format) {
            Ok(pb::ExportFormat::JsonLines) => export::Format::JsonLines,
            Ok(pb::ExportFormat::Csv) => export::Format::Csv,
            _ => {
                return Err(Error::InvalidArgument(
                    "format must be EXPORT_FORMAT_JSON_LINES or EXPORT_FORMAT_CSV".into(),
                )
                .into());
            }
        };
        let query = convert::query_from(r.filter)?;
        let rx = export::spawn(self.store.clone(), tenant, query, format);
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn verify_chain(
        &self,
        request: Request<pb::VerifyChainRequest>,
    ) -> Result<Response<pb::VerifyChainResponse>, Status> {
        let tenant = request.get_ref().tenant_id.clone();
        let p = keyholder_kit::gate::principal(&request).map_err(Error::from)?;
        tenant_arg(&tenant)?;
        if !p.is_operator() {
            p.require_admin_of(&tenant).map_err(Error::from)?;
        }
        let full = request.get_ref().full;
        let v = self.ledger.verify(&tenant, full).await?;
        if let Some(b) = &v.broken {
            tracing::error!(tenant_id = %tenant, sequence = b.sequence, problem = %b.problem, "audit chain broken");
        }
        Ok(Response::new(pb::VerifyChainResponse {
            intact: v.broken.is_none(),
            checked: v.checked,
            first_broken_sequence: v.broken.as_ref().map(|b| b.sequence).unwrap_or(0),
            problem: v.broken.map(|b| b.problem).unwrap_or_default(),
            checkpoint_sequence: v.checkpoint_sequence,
            witness_sequence: v.witness_sequence,
            mismatch_sequence: v.mismatch_sequence,
        }))
    }

    async fn verify_receipt(
        &self,
        request: Request<pb::VerifyReceiptRequest>,
    ) -> Result<Response<pb::VerifyReceiptResponse>, Status> {
        let tenant = request.get_ref().tenant_id.clone();
        let p = keyholder_kit::gate::principal(&request).map_err(Error::from)?;
        tenant_arg(&tenant)?;
        if !p.is_operator() {
            p.require_admin_of(&tenant).map_err(Error::from)?;
        }
        let r = request.into_inner();
        let broken = self
            .ledger
            .check_receipt(&tenant, r.sequence, &r.hash)
            .await?;
        if let Some(b) = &broken {
            tracing::warn!(tenant_id = %tenant, sequence = r.sequence, broken = b.sequence, problem = %b.problem, "audit receipt does not hold");
        }
        Ok(Response::new(pb::VerifyReceiptResponse {
            valid: broken.is_none(),
            first_broken_sequence: broken.as_ref().map(|b| b.sequence).unwrap_or(0),
            problem: broken.map(|b| b.problem).unwrap_or_default(),
        }))
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let tenant = request.get_ref().tenant_id.clone();
        self.admin(&request, &tenant).await?;
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token).map_err(Error::from)?;
        let rows = self.store.list_notifications(&tenant, page).await?;
        let (next_page_token, keep) = page.finish(rows.len());
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: rows
                .into_iter()
                .take(keep)
                .map(convert::notification_to_proto)
                .collect::<Result<_, _>>()?,
            next_page_token,
        }))
    }
}
