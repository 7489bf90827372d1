//! The key-encryption key as an operator meets it, with the real binary:
//! `keyholder up` generates one (owner-only, like every file it makes),
//! `keyholder admin rotate-kek` re-seals every stored secret while the suite
//! runs, and afterwards the old key alone no longer opens anything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Ports, Running, start_up};
use keyholder_proto::identity::v1 as pb;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use tonic::transport::Channel;

fn keyholder(dir: &Path, p: &Ports, kek_file: Option<&Path>) -> Command {
    let mut c = common::keyholder(dir, p);
    if let Some(f) = kek_file {
        c.env("KEYHOLDER_KEK_FILE", f);
    }
    c
}

async fn up(dir: &Path, p: &Ports, kek_file: Option<&Path>) -> Running {
    start_up(keyholder(dir, p, kek_file), p).await
}

fn admin(dir: &Path, p: &Ports, args: &[&str]) -> Output {
    keyholder(dir, p, None)
        .arg("admin")
        .args(args)
        .env("KEYHOLDER_AGENT_PASSWORD", "agent-password-123")
        .output()
        .unwrap()
}

fn stdout_value(out: &Output, key: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {text:?}"))
        .to_string()
}

async fn identity(p: &Ports) -> IdentityServiceClient<Channel> {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", p.identity))
        .unwrap()
        .connect()
        .await
        .unwrap();
    IdentityServiceClient::new(ch)
}

async fn sign_in(p: &Ports, email: &str, password: &str, code: &str) -> Result<(), tonic::Status> {
    identity(p)
        .await
        .sign_in(pb::SignInRequest {
            tenant_id: String::new(),
            email: email.into(),
            password: password.into(),
            totp_code: code.into(),
        })
        .await
        .map(drop)
}

async fn operator_signs_in(dir: &Path, p: &Ports) {
    let creds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("operator.credentials")).unwrap())
            .unwrap();
    sign_in(
        p,
        creds["email"].as_str().unwrap(),
        creds["password"].as_str().unwrap(),
        "",
    )
    .await
    .expect("the operator signs in: identity's signing key opens");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn up_makes_every_file_owner_only_and_rotate_kek_reseals_while_running() {
    let root = tempfile::tempdir().unwrap();
    // A data dir `up` creates itself, as on a fresh machine.
    let dir = root.path().join("data");
    let ports = Ports::new();
    let running = up(&dir, &ports, None).await;
    operator_signs_in(&dir, &ports).await;
    let created = admin(
        &dir,
        &ports,
        &[
            "create-agent",
            "--email",
            "ivan@vendor.example",
            "--name",
            "Ivan Petrov",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let uri = stdout_value(&created, "totp_uri");
    let secret = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_string();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    sign_in(
        &ports,
        "ivan@vendor.example",
        "agent-password-123",
        &keyholder_testkit::totp_at(&secret, now()),
    )
    .await
    .expect("the agent signs in: the TOTP secret opens");

    // Every file `up` made is 0600 and every folder 0700: the databases
    // with their -wal and -shm files, the credentials, the key, the mail folder.
    let mut files = Vec::new();
    let mut dirs = vec![dir.clone()];
    let mut i = 0;
    while i < dirs.len() {
        for e in std::fs::read_dir(&dirs[i]).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
        i += 1;
    }
    for name in [
        "identity.db",
        "identity.db-wal",
        "identity.db-shm",
        "broker.db",
        "broker.db-wal",
        "audit.db",
        "audit.db-wal",
        "operator.credentials",
        "broker.credentials",
        "audit.credentials",
        "keyholder.kek",
    ] {
        assert!(files.contains(&dir.join(name)), "{name} missing: {files:?}");
    }
    assert!(dirs.contains(&dir.join("mail")), "mail folder missing");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    for d in &dirs {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    running.stop().await;

    // Rotation. The services first hold both keys (the old one still
    // seals); rotate-kek then re-seals everything under the new one while
    // they run and keep working.
    let old = dir.join("keyholder.kek");
    let new = root.path().join("new.kek");
    let out = admin(
        &dir,
        &ports,
        &["generate-kek", "--out", new.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    let new_id = stdout_value(&out, "kek_id");
    assert_eq!(mode(&new), 0o600);
    let again = admin(
        &dir,
        &ports,
        &["generate-kek", "--out", new.to_str().unwrap()],
    );
    assert!(
        !again.status.success(),
        "an existing key file is never overwritten"
    );
    let both = root.path().join("both.kek");
    std::fs::write(
        &both,
        format!(
            "{}{}",
            std::fs::read_to_string(&old).unwrap(),
            std::fs::read_to_string(&new).unwrap()
        ),
    )
    .unwrap();
    let running = up(&dir, &ports, Some(&both)).await;
    let out = admin(
        &dir,
        &ports,
        &[
            "rotate-kek",
            "--new",
            new.to_str().unwrap(),
            "--old",
            old.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // Identity: its signing key and the agent's TOTP secret; one key each
    // for broker and audit.
    assert!(
        text.contains(
            "identity: rewrapped=2 sealed_plaintext=0 already_current=0 changed_meanwhile=0"
        ),
        "{text}"
    );
    assert!(
        text.contains("broker: rewrapped=1 sealed_plaintext=0"),
        "{text}"
    );
    assert!(
        text.contains("audit: rewrapped=1 sealed_plaintext=0"),
        "{text}"
    );
    assert_eq!(stdout_value(&out, "kek_id"), new_id);
    operator_signs_in(&dir, &ports).await;
    sign_in(
        &ports,
        "ivan@vendor.example",
        "agent-password-123",
        &keyholder_testkit::totp_at(&secret, now() + 30),
    )
    .await
    .expect("the agent signs in during the rotation");
    // A second run finds nothing left under the old key.
    let out = admin(
        &dir,
        &ports,
        &[
            "rotate-kek",
            "--new",
            new.to_str().unwrap(),
            "--old",
            old.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("identity: rewrapped=0 sealed_plaintext=0 already_current=2"),
        "{text}"
    );
    running.stop().await;

    // The new key alone runs the suite; the old key alone no longer starts it.
    let running = up(&dir, &ports, Some(&new)).await;
    operator_signs_in(&dir, &ports).await;
    running.stop().await;
    let out = keyholder(&dir, &ports, Some(&old))
        .arg("up")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "key-encryption key {new_id}, which is not configured"
        )),
        "{err}"
    );
}
