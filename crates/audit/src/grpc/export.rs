//! Export of a tenant's events as JSON Lines or CSV, produced page by page
//! into a channel so the whole file is never held in memory.

use super::convert::stored_event;
use crate::domain::event::format_time;
use crate::error::Error;
use crate::store::Store;
use crate::store::entities::event;
use crate::store::events::EventQuery;
use keyholder_kit::instant::from_stored;
use keyholder_proto::audit::v1::ExportEventsResponse;
use tokio::sync::mpsc;
use tonic::Status;

/// Rows read per query.
const PAGE: u64 = 500;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    JsonLines,
    /// RFC 4180 CSV with a header.
    Csv,
}

/// CSV columns, in order.
pub const CSV_HEADER: [&str; 24] = [
    "sequence",
    "event_id",
    "kind",
    "occur_time",
    "actor_id",
    "actor_name",
    "agent_id",
    "agent_name",
    "agent_email",
    "granted_by_id",
    "granted_by_name",
    "access_request_id",
    "grant_id",
    "session_id",
    "ticket_ref",
    "reason",
    "entity",
    "action",
    "allowed",
    "expire_time",
    "source",
    "attributes",
    "record_time",
    "hash",
];

fn json_line(m: &event::Model) -> Result<Vec<u8>, Error> {
    let mut value: serde_json::Value = serde_json::from_str(&m.content)
        .map_err(|e| Error::Internal(format!("stored event {} unreadable: {e}", m.event_id)))?;
    if let Some(obj) = value.as_object_mut() {
        obj.remove("v");
        let record = format_time(from_stored(m.record_time_us)?);
        obj.insert("record_time".into(), record.into());
        obj.insert("prev_hash".into(), m.prev_hash.clone().into());
        obj.insert("hash".into(), m.hash.clone().into());
    }
    let mut line = serde_json::to_vec(&value)
        .map_err(|e| Error::Internal(format!("cannot serialize event: {e}")))?;
    line.push(b'\n');
    Ok(line)
}

fn csv_record(m: &event::Model) -> Result<Vec<String>, Error> {
    let e = stored_event(m)?;
    let actor = e.actor.unwrap_or_default();
    let agent = e.agent.unwrap_or_default();
    let granted = e.granted_by.unwrap_or_default();
    let attributes = serde_json::to_string(&e.attributes)
        .map_err(|err| Error::Internal(format!("cannot serialize attributes: {err}")))?;
    Ok(vec![
        m.sequence.to_string(),
        e.event_id,
        e.kind.as_str().to_string(),
        format_time(e.occur_time),
        actor.id,
        actor.name,
        agent.id,
        agent.name,
        agent.email,
        granted.id,
        granted.name,
        e.access_request_id,
        e.grant_id,
        e.session_id,
        e.ticket_ref,
        e.reason,
        e.entity,
        e.action,
        e.allowed.to_string(),
        e.expire_time.map(format_time).unwrap_or_default(),
        e.source,
        attributes,
        format_time(from_stored(m.record_time_us)?),
        m.hash.clone(),
    ])
}

fn csv_bytes(records: &[Vec<String>]) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.write_record(r)
            .map_err(|e| Error::Internal(format!("csv: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| Error::Internal(format!("csv: {e}")))
}

async fn chunk(
    store: &Store,
    tenant_id: &str,
    query: &EventQuery,
    format: Format,
    after: i64,
) -> Result<(Vec<u8>, Option<i64>), Error> {
    let rows = store.events_after(tenant_id, query, after, PAGE).await?;
    let last = rows.last().map(|r| r.sequence);
    let mut data = Vec::new();
    match format {
        Format::JsonLines => {
            for r in &rows {
                data.extend(json_line(r)?);
            }
        }
        Format::Csv => {
            let records = rows.iter().map(csv_record).collect::<Result<Vec<_>, _>>()?;
            data = csv_bytes(&records)?;
        }
    }
    Ok((data, last))
}

/// Starts producing the export; the receiver yields chunks in order.
pub fn spawn(
    store: Store,
    tenant_id: String,
    query: EventQuery,
    format: Format,
) -> mpsc::Receiver<Result<ExportEventsResponse, Status>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        if format == Format::Csv {
            let header: Vec<String> = CSV_HEADER.iter().map(|s| s.to_string()).collect();
            let sent = match csv_bytes(&[header]) {
                Ok(data) => tx.send(Ok(ExportEventsResponse { data })).await,
                Err(e) => tx.send(Err(e.into())).await,
            };
            if sent.is_err() {
                return;
            }
        }
        let mut after = 0;
        loop {
            match chunk(&store, &tenant_id, &query, format, after).await {
                Ok((_, None)) => break,
                Ok((data, Some(last))) => {
                    after = last;
                    // The client went away: stop reading.
                    if tx.send(Ok(ExportEventsResponse { data })).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    break;
                }
            }
        }
    });
    rx
}
