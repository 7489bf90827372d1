//! What the binary-driven tests share: free loopback ports, the `keyholder`
//! command with a suite's addresses and data dir (as README sets them), a
//! running `keyholder up` stopped when dropped, and waiting for health.

#![allow(dead_code)] // each test binary uses its own part of this

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A loopback address nobody holds, from below the ephemeral range so no
/// other test's connection is given it before the process binds it.
pub fn free_port() -> SocketAddr {
    keyholder_testkit::smtp::reserve_addr()
}

/// The three services' addresses.
pub struct Ports {
    pub identity: SocketAddr,
    pub broker: SocketAddr,
    pub audit: SocketAddr,
}

impl Ports {
    pub fn new() -> Self {
        Self {
            identity: free_port(),
            broker: free_port(),
            audit: free_port(),
        }
    }
}

/// A `keyholder` process, killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..150 {
            if let Some(s) = self.0.try_wait().unwrap() {
                assert!(s.success(), "keyholder exited with {s}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("keyholder did not stop within 15 s of SIGTERM");
    }
}

/// `keyholder` with the suite's addresses and data dir, and nothing from
/// the test's own environment that would change who it is or what it opens.
pub fn keyholder(dir: &Path, p: &Ports) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyholder"));
    c.env("KEYHOLDER_DATA_DIR", dir)
        .env("KEYHOLDER_IDENTITY__LISTEN", p.identity.to_string())
        .env("KEYHOLDER_BROKER__LISTEN", p.broker.to_string())
        .env("KEYHOLDER_AUDIT__LISTEN", p.audit.to_string())
        .env("KEYHOLDER_IDENTITY__URL", format!("http://{}", p.identity))
        .env("KEYHOLDER_BROKER__URL", format!("http://{}", p.broker))
        .env("KEYHOLDER_AUDIT__URL", format!("http://{}", p.audit))
        .env("KEYHOLDER_LOG", "warn");
    for var in [
        "KEYHOLDER_TEST_DATABASE_URL",
        "KEYHOLDER_AS",
        "KEYHOLDER_AS_TENANT",
        "KEYHOLDER_AS_PASSWORD",
        "KEYHOLDER_TOKEN",
        "KEYHOLDER_KEK",
        "KEYHOLDER_KEK_FILE",
    ] {
        c.env_remove(var);
    }
    c
}

/// Waits until `service` at `addr` reports SERVING.
pub async fn wait_serving(addr: SocketAddr, service: &str) {
    let ep = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    for _ in 0..300 {
        if let Ok(ch) = ep.connect().await
            && let Ok(r) = HealthClient::new(ch)
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
            && r.into_inner().status == ServingStatus::Serving as i32
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{service} at {addr} never reported SERVING");
}

/// Runs `up` with `command` (from [`keyholder`]) and waits for all three.
pub async fn start_up(mut command: Command, p: &Ports) -> Running {
    let child = command
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let running = Running(child);
    wait_serving(p.identity, "keyholder.identity.v1.IdentityService").await;
    wait_serving(p.broker, "keyholder.broker.v1.BrokerService").await;
    wait_serving(p.audit, "keyholder.audit.v1.AuditService").await;
    running
}
