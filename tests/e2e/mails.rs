//! The mails issue 14 added, end to end: broker's event, audit's outbox, the
//! real SMTP server. Each checks the facts (ends, deadlines) by value, and the
//! headers that make mail clients treat them as notifications.

use crate::flows::World;
use chrono::{DateTime, Utc};
use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::bearer;
use keyholder_testkit::smtp::ReceivedMail;
use std::time::Duration;

fn at(ts: &prost_types::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(ts.seconds, 0).unwrap()
}

fn shown(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn assert_lines(m: &ReceivedMail, lines: &[String]) {
    let text = m.body("text/plain").unwrap();
    for l in lines {
        assert!(text.lines().any(|x| x == l), "{l:?} missing from:\n{text}");
    }
    assert_eq!(m.header("Auto-Submitted").unwrap().trim(), "auto-generated");
    assert!(
        m.header("List-Id")
            .unwrap()
            .contains("<notifications.localhost>"),
        "{:?}",
        m.header("List-Id")
    );
    assert!(m.body("text/html").is_some(), "no HTML part");
}

#[tokio::test]
async fn an_extension_mails_the_admins_and_the_agent_with_the_old_and_new_end() {
    let w = World::start("Acme", identity::Locale::En).await;
    w.set_mode(broker::SupportAccessMode::OnRequest).await;
    let req = w.helpdesk_requests("T-77", "check the import").await;
    let g = w.approve(&req.access_request_id, 2).await;
    let old_end = at(g.expire_time.as_ref().unwrap());
    let new_end = old_end + chrono::Duration::days(3);
    w.suite
        .broker()
        .extend_grant(bearer(
            broker::ExtendGrantRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                grant_id: g.grant_id.clone(),
                expire_time: Some(prost_types::Timestamp {
                    seconds: new_end.timestamp(),
                    nanos: 0,
                }),
            },
            &w.suite.admin_token(&w.tenant).await,
        ))
        .await
        .expect("admin extends the grant");
    let lines = [
        format!("Previous end: {}", shown(old_end)),
        format!("New end: {}", shown(new_end)),
        "Ticket: T-77".to_string(),
    ];
    let agent = w.mail_to(&w.agent.email, "was extended").await;
    assert_eq!(
        agent.subject(),
        format!(
            "Your access to Acme was extended until {} (ticket T-77)",
            shown(new_end)
        )
    );
    assert_lines(&agent, &lines);
    let admin = w.mail_to(&w.tenant.admin_email, "extended until").await;
    assert_eq!(
        admin.subject(),
        format!(
            "Support access to Acme for Ivan Petrov extended until {} (ticket T-77)",
            shown(new_end)
        )
    );
    assert_lines(&admin, &lines);
}

#[tokio::test]
async fn a_lapsed_request_mails_the_agent_and_is_in_the_admins_record() {
    let w = World::start("Acme", identity::Locale::En).await;
    w.set_mode(broker::SupportAccessMode::OnRequest).await;
    let req = w.helpdesk_requests("T-78", "check the export").await;
    let deadline = at(req.expire_time.as_ref().unwrap());
    // The broker's own sweeper expires it once the clock passes the deadline.
    w.suite.clock.set(deadline + chrono::Duration::seconds(1));
    let m = w.mail_to(&w.agent.email, "lapsed undecided").await;
    assert_eq!(
        m.subject(),
        "Your access request for Acme lapsed undecided (ticket T-78)"
    );
    let asked = req.duration.as_ref().unwrap().seconds;
    assert_eq!(asked, 7 * 86_400);
    assert_lines(
        &m,
        &[
            "Access asked for: 7 days".into(),
            format!("Request: {}", req.access_request_id),
        ],
    );
    assert!(
        m.body("text/plain")
            .unwrap()
            .contains(&format!("by {}, so it has lapsed", shown(deadline))),
        "{}",
        m.body("text/plain").unwrap()
    );
    // The admins read it in the record rather than in their mailbox.
    let events = w
        .suite
        .audit()
        .list_events(bearer(
            audit::ListEventsRequest {
                tenant_id: w.tenant.tenant_id.clone(),
                filter: Some(audit::EventFilter {
                    kinds: vec![audit::EventKind::RequestExpired as i32],
                    ..Default::default()
                }),
                page_size: 10,
                ..Default::default()
            },
            &w.suite.admin_token(&w.tenant).await,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 1);
    let e = events[0].event.as_ref().unwrap();
    assert_eq!(e.access_request_id, req.access_request_id);
    assert_eq!(e.attributes.get("duration_secs").unwrap(), "604800");
    assert!(
        !w.smtp.messages().iter().any(|m| m
            .to
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&w.tenant.admin_email))
            && m.subject().contains("lapsed")),
        "admins were mailed about the lapse"
    );
}

#[tokio::test]
async fn a_grant_ending_soon_mails_the_agent_and_the_granting_admin_once() {
    let w = World::start("Ромашка", identity::Locale::Ru).await;
    w.set_mode(broker::SupportAccessMode::OnRequest).await;
    let req = w.helpdesk_requests("T-79", "проверить импорт").await;
    let g = w.approve(&req.access_request_id, 1).await;
    let end = at(g.expire_time.as_ref().unwrap());
    w.suite.clock.set(end - chrono::Duration::minutes(59));
    let lines = [
        format!("Доступ действует до: {}", shown(end)),
        "Осталось: 59 минут".to_string(),
    ];
    let agent = w.mail_to(&w.agent.email, "закончится").await;
    assert_eq!(
        agent.subject(),
        format!(
            "Ваш доступ к Ромашка закончится {} (обращение T-79)",
            shown(end)
        )
    );
    assert_lines(&agent, &lines);
    let admin = w.mail_to(&w.tenant.admin_email, "закончится").await;
    assert_eq!(
        admin.subject(),
        format!(
            "Доступ техподдержки к Ромашка для Ivan Petrov закончится {} (обращение T-79)",
            shown(end)
        )
    );
    assert_lines(&admin, &lines);
    // Later sweeps (one a second) send nothing more.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ending = w
        .smtp
        .messages()
        .iter()
        .filter(|m| m.subject().contains("закончится"))
        .count();
    assert_eq!(ending, 2);
}
