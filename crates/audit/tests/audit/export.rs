//! ExportEvents: JSON Lines and CSV, streamed in chunks.

use crate::common::*;
use crate::queries::seed_actions;
use chrono::Duration;
use keyholder_proto::audit::v1 as pb;
use keyholder_testkit::bearer;
use tokio_stream::StreamExt;
use tonic::Code;

async fn export(w: &World, format: pb::ExportFormat, filter: pb::EventFilter) -> (String, usize) {
    let mut stream = w
        .suite
        .audit()
        .export_events(bearer(
            pb::ExportEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                filter: Some(filter),
                format: format as i32,
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        bytes.extend(chunk.unwrap().data);
        chunks += 1;
    }
    (String::from_utf8(bytes).unwrap(), chunks)
}

#[tokio::test]
async fn export_streams_json_lines_and_csv() {
    let w = world().await;
    seed_actions(&w).await;

    let (jsonl, _) = export(&w, pb::ExportFormat::JsonLines, pb::EventFilter::default()).await;
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0]["sequence"], 1);
    assert_eq!(lines[0]["kind"], "SIGN_IN");
    assert_eq!(lines[0]["reason"], "customer cannot import leads");
    assert_eq!(lines[0]["ticket_ref"], "HD-4711");
    assert_eq!(lines[0]["granted_by"]["name"], "Carl Chief");
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    assert_eq!(lines[6]["entity"], "crm.lead, \"quoted\"");

    let (csv_text, _) = export(
        &w,
        pb::ExportFormat::Csv,
        pb::EventFilter {
            kinds: vec![pb::EventKind::Action as i32],
            ..Default::default()
        },
    )
    .await;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[..4], ["sequence", "event_id", "kind", "occur_time"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(&rows[0][col("sequence")], "2");
    assert_eq!(&rows[0][col("agent_name")], "Ann Agent");
    assert_eq!(&rows[0][col("session_id")], "sess-1");
    assert_eq!(&rows[4][col("allowed")], "false");
    assert_eq!(&rows[5][col("entity")], "crm.lead, \"quoted\"");

    // A format must be chosen.
    let e = w
        .suite
        .audit()
        .export_events(bearer(
            pb::ExportEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                ..Default::default()
            },
            &w.tenant.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn large_exports_arrive_in_several_chunks() {
    let w = world().await;
    let t = &w.tenant.tenant_id;
    for batch in 0..3 {
        let evs = (0..400)
            .map(|i| {
                event(
                    t,
                    pb::EventKind::Action,
                    now() + Duration::seconds(batch * 400 + i),
                )
            })
            .collect();
        ingest(&w, evs).await;
    }
    let (jsonl, chunks) = export(&w, pb::ExportFormat::JsonLines, pb::EventFilter::default()).await;
    assert_eq!(jsonl.lines().count(), 1200);
    assert!(chunks >= 3, "{chunks} chunks");
    let (csv_text, chunks) = export(&w, pb::ExportFormat::Csv, pb::EventFilter::default()).await;
    assert_eq!(csv_text.lines().count(), 1201);
    assert!(chunks >= 4, "{chunks} chunks");
}
