//! The operator's command line as a newcomer uses it: the real binary
//! against a real `keyholder up` — `demo` walks the lifecycle, the list and
//! record commands read it back as the customer's admin (tables and
//! `--json`), refusals print the server's message with a non-zero exit,
//! `migrate` brings schemas up to date (and services refuse a stale one when
//! told not to migrate), and `admin reset-operator` replaces a lost password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Ports, Running, keyholder, start_up, wait_serving};
use keyholder_proto::identity::v1 as pb;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

async fn up(dir: &Path, p: &Ports) -> Running {
    start_up(keyholder(dir, p), p).await
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a CLI command that must succeed and print JSON.
fn json(c: Command) -> Value {
    let o = run(c);
    assert!(o.status.success(), "failed: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

/// The demo's closing hint: `export KEYHOLDER_AS=… KEYHOLDER_AS_TENANT=… KEYHOLDER_AS_PASSWORD=…`.
fn chief_of(demo_out: &str) -> Vec<(String, String)> {
    let line = demo_out
        .lines()
        .find(|l| l.trim_start().starts_with("export KEYHOLDER_AS="))
        .expect("the demo names the chief admin");
    line.trim_start()
        .trim_start_matches("export ")
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test]
async fn the_demo_walks_the_lifecycle_and_the_cli_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = Ports::new();
    let _suite = up(dir.path(), &p).await;

    let demo = run({
        let mut c = keyholder(dir.path(), &p);
        c.arg("demo");
        c
    });
    let out = stdout(&demo);
    assert!(
        demo.status.success(),
        "demo failed: {}\n{out}",
        stderr(&demo)
    );
    for expected in [
        " 8. The product's backend asks CheckAccess",
        "allowed=true",
        "12. The backend asks CheckAccess again: denied, at once.",
        "allowed=false (the support session has ended (revoked))",
        "intact=true",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Step 7 names the chief admin's e-mail, a real file in the mail folder.
    let mail_line = out
        .lines()
        .find(|l| l.contains("mail to chief-"))
        .expect("the sign-in mail is named");
    let mail_path = mail_line.rsplit(": ").next().unwrap();
    let mail = std::fs::read_to_string(mail_path).unwrap();
    assert!(
        mail.contains("Subject: Support sign-in to Demo customer"),
        "{mail}"
    );

    let chief = chief_of(&out);
    let tenant = chief
        .iter()
        .find(|(k, _)| k == "KEYHOLDER_AS_TENANT")
        .unwrap()
        .1
        .clone();
    let as_chief = |args: &[&str]| {
        let mut c = keyholder(dir.path(), &p);
        c.envs(chief.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args);
        c
    };

    let grants = json(as_chief(&["grants", "list", "--tenant", &tenant, "--json"]));
    let grants = grants.as_array().unwrap();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["state"], "revoked");
    assert_eq!(grants[0]["ticket"], "DEMO-1");
    assert_eq!(
        grants[0]["granted_by"],
        chief_id(&chief, &tenant, &p, dir.path())
    );

    let requests = json(as_chief(&[
        "requests", "list", "--tenant", &tenant, "--state", "approved", "--json",
    ]));
    assert_eq!(requests.as_array().unwrap().len(), 1, "{requests}");
    assert_eq!(requests[0]["grant_id"], grants[0]["grant_id"]);

    let history = json(as_chief(&["history", "--tenant", &tenant, "--json"]));
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(
        history[0]["agent"],
        "Ivan Petrov <agent-".to_string() + &agent_suffix(&out)
    );
    assert_eq!(
        history[0]["granted_by"],
        format!("Chief Admin <{}>", chief[0].1)
    );
    assert_eq!(
        history[0]["reason"],
        "Looking at the invoice export for DEMO-1"
    );

    let verdict = json(as_chief(&["verify-chain", "--tenant", &tenant, "--json"]));
    assert_eq!(verdict["intact"], "true");
    let checked: usize = verdict["events_checked"].as_str().unwrap().parse().unwrap();

    let csv = dir.path().join("export.csv");
    let export = run(as_chief(&[
        "export",
        "--tenant",
        &tenant,
        "--format",
        "csv",
        "--out",
        csv.to_str().unwrap(),
    ]));
    assert!(export.status.success(), "{}", stderr(&export));
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count();
    assert!(
        rows > checked,
        "a header and at least {checked} events, got {rows} lines"
    );

    let closed = json(as_chief(&[
        "access", "set", "--tenant", &tenant, "--mode", "closed", "--json",
    ]));
    assert_eq!(closed["mode"], "closed");

    // The operator is not the customer's admin: the server's refusal is
    // printed as it is, with a non-zero exit.
    let refused = run({
        let mut c = keyholder(dir.path(), &p);
        c.args(["grants", "list", "--tenant", &tenant]);
        c
    });
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        stderr(&refused).trim(),
        "keyholder: listing grants refused (PermissionDenied): permission denied: only an administrator of the tenant may do this"
    );
    // A missing password is a sentence, not clap's raw error.
    let no_password = run({
        let mut c = keyholder(dir.path(), &p);
        c.env("KEYHOLDER_AS", &chief[0].1)
            .args(["grants", "list", "--tenant", &tenant]);
        c
    });
    assert_eq!(no_password.status.code(), Some(1));
    assert!(
        stderr(&no_password).contains("set KEYHOLDER_AS_PASSWORD"),
        "{}",
        stderr(&no_password)
    );
}

/// The chief admin's user id, read through `users list` as the chief.
fn chief_id(chief: &[(String, String)], tenant: &str, p: &Ports, dir: &Path) -> String {
    let mut c = keyholder(dir, p);
    c.envs(chief.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["users", "list", "--tenant", tenant, "--json"]);
    let users = json(c);
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["admin"] == "chief")
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .expect("the tenant has a chief admin")
}

/// `c21c4d1b@vendor.example>` from the demo's agent line.
fn agent_suffix(demo_out: &str) -> String {
    let line = demo_out
        .lines()
        .find(|l| l.contains("@vendor.example>"))
        .unwrap();
    line.split("<agent-").nth(1).unwrap().to_string()
}

#[tokio::test]
async fn migrate_brings_schemas_up_to_date_and_services_refuse_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = Ports::new();
    let kek = dir.path().join("k.kek");
    let g = run({
        let mut c = keyholder(dir.path(), &p);
        c.args(["admin", "generate-kek", "--out", kek.to_str().unwrap()]);
        c
    });
    assert!(g.status.success(), "{}", stderr(&g));

    // Told not to migrate, identity refuses an empty database, and says what to do.
    let refused = run({
        let mut c = keyholder(dir.path(), &p);
        c.env("KEYHOLDER_MIGRATE_ON_START", "false")
            .env("KEYHOLDER_KEK_FILE", &kek)
            .arg("identity");
        c
    });
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused)
            .contains("migration(s) behind this release; run `keyholder migrate` first"),
        "{}",
        stderr(&refused)
    );

    let first = run({
        let mut c = keyholder(dir.path(), &p);
        c.arg("migrate");
        c
    });
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    for service in ["identity", "broker", "audit"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{service}: applied=")))
            .unwrap_or_else(|| panic!("no line for {service}: {text}"));
        assert_ne!(line, format!("{service}: applied=0 up_to_date=true"));
    }
    let again = run({
        let mut c = keyholder(dir.path(), &p);
        c.args(["migrate", "broker"]);
        c
    });
    assert_eq!(stdout(&again), "broker: applied=0 up_to_date=true\n");

    // Migrated, the same identity starts without migrating.
    let child = keyholder(dir.path(), &p)
        .env("KEYHOLDER_MIGRATE_ON_START", "false")
        .env("KEYHOLDER_KEK_FILE", &kek)
        .arg("identity")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _identity = Running(child);
    wait_serving(p.identity, "keyholder.identity.v1.IdentityService").await;
}

#[tokio::test]
async fn replicas_migrating_one_fresh_postgres_database_together_take_turns() {
    if !keyholder_testkit::db::on_postgres() {
        return;
    }
    let url = keyholder_testkit::db::fresh_postgres_database().await;
    let dir = tempfile::tempdir().unwrap();
    let p = Ports::new();
    let children: Vec<Child> = (0..4)
        .map(|_| {
            keyholder(dir.path(), &p)
                .env("KEYHOLDER_IDENTITY__DATABASE_URL", url.expose())
                .env("KEYHOLDER_BROKER__DATABASE_URL", url.expose())
                .env("KEYHOLDER_AUDIT__DATABASE_URL", url.expose())
                .arg("migrate")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "a racing migrate failed: {}",
            stderr(&o)
        );
        applied += stdout(&o)
            .lines()
            .filter(|l| !l.contains("applied=0 "))
            .count();
    }
    // Each service's migrations ran once, in whichever process got there first.
    assert_eq!(applied, 3);
}

#[tokio::test]
async fn reset_operator_replaces_a_lost_password_and_ends_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let p = Ports::new();
    let _suite = up(dir.path(), &p).await;
    let creds_path = dir.path().join("operator.credentials");
    let old: Value = serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap()).unwrap();
    let old_password = old["password"].as_str().unwrap().to_string();
    // A token the operator holds from before the reset.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", p.identity))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut identity = IdentityServiceClient::new(channel);
    let before = identity
        .sign_in(pb::SignInRequest {
            tenant_id: String::new(),
            email: "operator@keyholder.local".into(),
            password: old_password.clone(),
            totp_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
        .access_token;
    let list = |token: &str| {
        let mut req = tonic::Request::new(pb::ListTenantsRequest::default());
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    };
    identity.list_tenants(list(&before)).await.unwrap();

    let reset = run({
        let mut c = keyholder(dir.path(), &p);
        c.args(["admin", "reset-operator"]);
        c
    });
    assert!(reset.status.success(), "{}", stderr(&reset));
    assert_eq!(
        stdout(&reset),
        format!(
            "operator=operator@keyholder.local\nfile={}\nsessions_ended=true\n",
            creds_path.display()
        )
    );
    let new: Value = serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap()).unwrap();
    assert_ne!(new["password"], old["password"]);

    // The old password no longer signs in; the new file does.
    let with_old = run({
        let mut c = keyholder(dir.path(), &p);
        c.env("KEYHOLDER_AS", "operator@keyholder.local")
            .env("KEYHOLDER_AS_PASSWORD", &old_password)
            .args(["tenants", "list"]);
        c
    });
    assert_eq!(with_old.status.code(), Some(1));
    assert!(
        stderr(&with_old).starts_with("keyholder: sign-in refused (Unauthenticated)"),
        "{}",
        stderr(&with_old)
    );
    let with_new = run({
        let mut c = keyholder(dir.path(), &p);
        c.args(["tenants", "list", "--json"]);
        c
    });
    assert!(with_new.status.success(), "{}", stderr(&with_new));
    assert_eq!(stdout(&with_new).trim(), "[]");
    // ... and the token from before the reset is dead.
    let err = identity.list_tenants(list(&before)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
}

#[tokio::test]
async fn the_operator_registers_a_helpdesk_and_a_webhook_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let p = Ports::new();
    let _suite = up(dir.path(), &p).await;
    let cmd = |args: &[&str]| {
        let mut c = keyholder(dir.path(), &p);
        c.args(args);
        c
    };
    let created = json(cmd(&[
        "connectors",
        "create",
        "--kind",
        "standard",
        "--name",
        "Generic desk",
        "--tenant-field",
        "ticket.tenant",
        "--status-field",
        "ticket.status",
        "--json",
    ]));
    let id = created["connector_id"].as_str().unwrap().to_string();
    assert_eq!(created["kind"], "standard");
    assert_eq!(created["webhook_path"], format!("/webhooks/{id}"));
    // Standard Webhooks secrets are shown once, in their own format.
    assert!(
        created["signing_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_"),
        "{created}"
    );
    let listed = json(cmd(&["connectors", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["connector_id"], id.as_str());
    assert!(listed[0].get("signing_secret").is_none());

    let sub = json(cmd(&[
        "webhooks",
        "create",
        "--url",
        "http://127.0.0.1:9/keyholder-events",
        "--json",
    ]));
    let sub_id = sub["subscription_id"].as_str().unwrap().to_string();
    assert!(!sub["signing_secret"].as_str().unwrap().is_empty());
    let deliveries = json(cmd(&["webhooks", "deliveries", &sub_id, "--json"]));
    assert_eq!(deliveries, serde_json::json!([]));
    // Not a URL a subscriber could have: refused with the server's words.
    let bad = run(cmd(&[
        "webhooks",
        "create",
        "--url",
        "ftp://example.invalid/x",
    ]));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("creating the subscription refused (InvalidArgument)"),
        "{}",
        stderr(&bad)
    );

    let deleted = json(cmd(&["connectors", "delete", &id, "--json"]));
    assert_eq!(deleted["deleted"], "true");
    assert_eq!(
        json(cmd(&["connectors", "list", "--json"])),
        serde_json::json!([])
    );
}
