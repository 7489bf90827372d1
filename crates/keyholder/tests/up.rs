//! `keyholder up` as a newcomer runs it: the real binary, its own data dir,
//! health and reflection answering on every service, bootstrap credentials
//! written owner-only, and a clean exit on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn free_port() -> SocketAddr {
    // Below the ephemeral range: nobody else is handed it meanwhile.
    keyholder_testkit::smtp::reserve_addr()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn connect(addr: SocketAddr) -> Channel {
    let ep = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    for _ in 0..300 {
        if let Ok(ch) = ep.connect().await {
            return ch;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr} never accepted a connection");
}

async fn serving(ch: Channel, service: &str) -> ServingStatus {
    let resp = HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    ServingStatus::try_from(resp.status).unwrap()
}

/// The services reflection lists, asked in protocol v1 and in v1alpha
/// (older grpcurl, grpc_cli, Evans and Postman speak only v1alpha); the two
/// answers must agree.
async fn reflected_services(ch: Channel) -> Vec<String> {
    let v1 = {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new(ch.clone())
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        match stream.message().await.unwrap().unwrap().message_response {
            Some(MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected reflection answer {other:?}"),
        }
    };
    let v1alpha = {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new(ch)
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        match stream.message().await.unwrap().unwrap().message_response {
            Some(MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected v1alpha reflection answer {other:?}"),
        }
    };
    let mut v1 = v1;
    v1.sort();
    let mut v1alpha = v1alpha;
    v1alpha.sort();
    assert_eq!(v1, v1alpha, "v1 and v1alpha reflection disagree");
    v1
}

#[tokio::test]
async fn up_serves_all_three_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, broker, audit) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_keyholder"))
        .arg("up")
        .env("KEYHOLDER_DATA_DIR", dir.path())
        .env("KEYHOLDER_IDENTITY__LISTEN", identity.to_string())
        .env("KEYHOLDER_BROKER__LISTEN", broker.to_string())
        .env("KEYHOLDER_AUDIT__LISTEN", audit.to_string())
        .env("KEYHOLDER_IDENTITY__URL", format!("http://{identity}"))
        .env("KEYHOLDER_AUDIT__URL", format!("http://{audit}"))
        .env("KEYHOLDER_LOG", "warn")
        .env_remove("KEYHOLDER_TEST_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut running = Running(child);

    for (addr, name, listed) in [
        (
            identity,
            "keyholder.identity.v1.IdentityService",
            &[
                "grpc.health.v1.Health",
                "keyholder.identity.v1.IdentityService",
                "keyholder.identity.v1.StandingService",
            ][..],
        ),
        (
            broker,
            "keyholder.broker.v1.BrokerService",
            &["grpc.health.v1.Health", "keyholder.broker.v1.BrokerService"][..],
        ),
        (
            audit,
            "keyholder.audit.v1.AuditService",
            &["grpc.health.v1.Health", "keyholder.audit.v1.AuditService"][..],
        ),
    ] {
        let ch = connect(addr).await;
        // Broker and audit are ready once they have identity's standing
        // feed, a moment after they start listening.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut status = serving(ch.clone(), name).await;
        while status != ServingStatus::Serving && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            status = serving(ch.clone(), name).await;
        }
        assert_eq!(status, ServingStatus::Serving, "{name}");
        // Each port lists only what it serves: no IdentityService on the
        // broker's port answering UNIMPLEMENTED.
        let services = reflected_services(ch).await;
        assert_eq!(services, listed, "reflection on {name}'s port");
    }

    // Bootstrap wrote the operator's credentials, readable by the owner only.
    let path = dir.path().join("operator.credentials");
    let creds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(creds["email"], "operator@keyholder.local");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    for f in ["identity.db", "broker.db", "audit.db"] {
        assert!(dir.path().join(f).exists(), "{f} was not created");
    }

    let pid = running.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let mut status = None;
    for _ in 0..150 {
        if let Some(s) = running.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("keyholder did not stop within 15 s of SIGTERM");
    assert!(status.success(), "keyholder exited with {status}");
}
