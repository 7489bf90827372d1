//! `keyholder history`, `keyholder verify-chain`, `keyholder export`: the
//! record of who entered a tenant and what they did.

use super::MAX_ROWS;
use crate::connect::{Session, refused};
use crate::output::{Record, Table, time};
use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use keyholder_proto::audit::v1 as pb;
use std::io::Write;
use std::path::PathBuf;
use tokio_stream::StreamExt;

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// The tenant's login history: who signed in, when, why, granted by whom.
pub async fn history(
    s: &mut Session,
    tenant: String,
    agent: String,
    json: bool,
) -> anyhow::Result<()> {
    let mut t = Table::new(&[
        "sign_in",
        "sign_out",
        "agent",
        "granted_by",
        "ticket",
        "reason",
        "outcome",
    ]);
    let mut page_token = String::new();
    loop {
        let resp = s
            .audit
            .list_login_history(s.call(pb::ListLoginHistoryRequest {
                tenant_id: tenant.clone(),
                agent_id: agent.clone(),
                page_size: 100,
                page_token,
                ..Default::default()
            }))
            .await
            .map_err(|e| refused("reading the login history", &e))?
            .into_inner();
        for e in resp.entries {
            let outcome = if !e.succeeded {
                format!("refused: {}", e.refusal)
            } else if e.sign_out_time.is_some() {
                format!("ended: {}", e.end_reason)
            } else {
                "signed in".into()
            };
            t.row(vec![
                time(e.sign_in_time.as_ref()),
                time(e.sign_out_time.as_ref()),
                actor(e.accessed_by.as_ref()),
                actor(e.granted_by.as_ref()),
                e.ticket_ref,
                e.reason,
                outcome,
            ]);
        }
        page_token = resp.next_page_token;
        if page_token.is_empty() || t.len() >= MAX_ROWS {
            break;
        }
    }
    t.print(json);
    Ok(())
}

fn actor(a: Option<&pb::Actor>) -> String {
    match a {
        Some(a) if !a.email.is_empty() => format!("{} <{}>", a.display_name, a.email),
        Some(a) if !a.display_name.is_empty() => a.display_name.clone(),
        Some(a) => a.actor_id.clone(),
        None => String::new(),
    }
}

/// Checks the tenant's hash chain against its checkpoints and the witness;
/// an error (non-zero exit) when it is not intact.
pub async fn verify_chain(
    s: &mut Session,
    tenant: String,
    full: bool,
    json: bool,
) -> anyhow::Result<()> {
    let v = s
        .audit
        .verify_chain(s.call(pb::VerifyChainRequest {
            tenant_id: tenant.clone(),
            full,
        }))
        .await
        .map_err(|e| refused("verifying the chain", &e))?
        .into_inner();
    Record::new()
        .field("tenant_id", tenant)
        .field("intact", v.intact.to_string())
        .field("events_checked", v.checked.to_string())
        .field("checkpoint_sequence", v.checkpoint_sequence.to_string())
        .field("witness_sequence", v.witness_sequence.to_string())
        .field("first_broken_sequence", v.first_broken_sequence.to_string())
        .field("problem", v.problem.clone())
        .print(json);
    if !v.intact {
        anyhow::bail!("the chain is not intact: {}", v.problem);
    }
    Ok(())
}

/// Streams the tenant's events to `out` (stdout when unset), with a
/// progress bar on stderr.
pub async fn export(
    s: &mut Session,
    tenant: String,
    format: Format,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let format = match format {
        Format::Jsonl => pb::ExportFormat::JsonLines,
        Format::Csv => pb::ExportFormat::Csv,
    };
    let mut stream = s
        .audit
        .export_events(s.call(pb::ExportEventsRequest {
            tenant_id: tenant,
            filter: None,
            format: format as i32,
        }))
        .await
        .map_err(|e| refused("exporting events", &e))?
        .into_inner();
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message("exporting");
    let mut lines = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| refused("exporting events", &e))?;
        lines += chunk.data.iter().filter(|b| **b == b'\n').count() as u64;
        sink.write_all(&chunk.data)
            .context("cannot write the export")?;
        bar.inc(chunk.data.len() as u64);
    }
    sink.flush().context("cannot write the export")?;
    bar.finish_with_message(format!("exported {lines} lines"));
    Ok(())
}
