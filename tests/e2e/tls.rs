//! TLS on every hop (docs/adr/0014): a support session end to end over
//! mutual TLS, the clients mutual TLS turns away, and a certificate
//! replaced on disk served to new connections without a restart.

use crate::flows::World;
use keyholder_kit::client::plain_channel;
use keyholder_kit::tls::TlsConfig;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_proto::identity::v1::GetKeySetRequest;
use keyholder_proto::identity::v1::identity_service_client::IdentityServiceClient;
use keyholder_testkit::tls::TestPki;
use keyholder_testkit::{Suite, channel_to};
use std::net::SocketAddr;
use tonic::Code;

/// GetKeySet over `https://addr` as a client with `tls`. It needs no token:
/// whether it answers is down to the transport.
async fn key_set(addr: SocketAddr, tls: &TlsConfig) -> Result<usize, tonic::Status> {
    let channel = plain_channel(&format!("https://{addr}"), tls).expect("channel");
    IdentityServiceClient::new(channel)
        .get_key_set(GetKeySetRequest {})
        .await
        .map(|r| r.into_inner().keys.len())
}

/// Trusts `pki`'s CA and presents no certificate.
fn verifying_only(pki: &TestPki) -> TlsConfig {
    TlsConfig {
        ca_file: Some(pki.ca_file.clone()),
        reload_secs: 0,
        ..TlsConfig::default()
    }
}

#[tokio::test]
async fn a_support_session_runs_over_mutual_tls_on_every_hop() {
    let pki = TestPki::new("flow");
    let mut suite = Suite::new().await;
    suite.config.tls = pki.config(true);
    let w = World::start_in(suite, "Mutual Co", identity::Locale::En, true).await;
    // Every hop between the services is https: broker → identity (keys,
    // standing feed), broker and identity → audit (events), audit →
    // identity (contacts) all dial these addresses.
    for url in [&w.suite.config.identity.url, &w.suite.config.audit.url] {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    }

    w.set_mode(broker::SupportAccessMode::OnRequest).await;
    let reason = "customer cannot export the deal report";
    let request = w.helpdesk_requests("T-TLS-1", reason).await;
    let grant = w.approve(&request.access_request_id, 1).await;
    let credential = w.credential(&grant.grant_id).await;
    let signed_in = w.sign_in(&credential, reason).await.expect("signs in");
    let session_id = signed_in.session.expect("session").session_id;
    let read = w.check(&signed_in.access_token, "crm.deal", "read").await;
    assert!(read.allowed, "{read:?}");
    assert_eq!(read.session_id, session_id);
    // The sign-in crossed broker → audit and audit → identity to reach the
    // tenant's history and the chief admin's inbox.
    let history = w
        .login_history_until(|h| h.iter().any(|e| e.session_id == session_id))
        .await;
    assert!(
        history
            .iter()
            .any(|e| e.session_id == session_id && e.succeeded)
    );
    w.mail_to(&w.tenant.admin_email, reason).await;
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let pki = TestPki::new("ours");
    let mut suite = Suite::new().await;
    suite.config.tls = pki.config(true);
    let addr = suite.start_identity().await;

    // With our CA's certificate: served.
    let served = key_set(addr, &pki.config(false)).await;
    assert!(served.as_ref().is_ok_and(|n| *n > 0), "{served:?}");

    // No client certificate at all: the handshake is refused.
    // (TLS 1.3: the client finishes its side first and reads the server's
    // alert with its first answer.)
    let none = key_set(addr, &verifying_only(&pki)).await.unwrap_err();
    assert!(
        format!("{none:?}").contains("received fatal alert: CertificateRequired"),
        "{none:?}"
    );

    // A certificate from another CA (trusting ours for the server): refused.
    let theirs = TestPki::new("theirs");
    let foreign = TlsConfig {
        ca_file: Some(pki.ca_file.clone()),
        ..theirs.config(false)
    };
    let err = key_set(addr, &foreign).await.unwrap_err();
    assert!(
        format!("{err:?}").contains("received fatal alert: UnknownCA"),
        "{err:?}"
    );

    // Plaintext to a TLS listener: no answer either.
    let plain = IdentityServiceClient::new(channel_to(addr, &TlsConfig::default()))
        .get_key_set(GetKeySetRequest {})
        .await
        .unwrap_err();
    assert_ne!(plain.code(), Code::Ok, "{plain:?}");

    // And the server still serves the good client after all that.
    assert!(key_set(addr, &pki.config(false)).await.is_ok());
}

#[tokio::test]
async fn without_mutual_tls_a_client_needs_no_certificate_but_must_trust_the_server() {
    let pki = TestPki::new("server-only");
    let mut suite = Suite::new().await;
    suite.config.tls = pki.config(false);
    let addr = suite.start_identity().await;
    assert!(key_set(addr, &verifying_only(&pki)).await.is_ok());
    // A client that trusts another CA does not accept our server.
    let other = TestPki::new("elsewhere");
    let err = key_set(addr, &verifying_only(&other)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let old = TestPki::new("old");
    let new = TestPki::new("new");
    let mut suite = Suite::new().await;
    // The server's files are copies in the suite's dir, replaced below the
    // way a mounted Secret changes: new contents, same paths.
    let cert = suite.dir.path().join("server.crt");
    let key = suite.dir.path().join("server.key");
    std::fs::copy(&old.cert_file, &cert).unwrap();
    std::fs::copy(&old.key_file, &key).unwrap();
    suite.config.tls = TlsConfig {
        cert_file: Some(cert.clone()),
        key_file: Some(key.clone()),
        reload_secs: 0,
        ..TlsConfig::default()
    };
    let addr = suite.start_identity().await;
    assert!(key_set(addr, &verifying_only(&old)).await.is_ok());
    let before = key_set(addr, &verifying_only(&new)).await.unwrap_err();
    assert_eq!(before.code(), Code::Unavailable, "{before:?}");

    std::fs::copy(&new.cert_file, &cert).unwrap();
    std::fs::copy(&new.key_file, &key).unwrap();

    // New connections get the new certificate; nothing was restarted.
    assert!(key_set(addr, &verifying_only(&new)).await.is_ok());
    let after = key_set(addr, &verifying_only(&old)).await.unwrap_err();
    assert_eq!(after.code(), Code::Unavailable, "{after:?}");

    // A half-written change (a key that is not the certificate's) is not
    // taken: the last good pair stays in service.
    std::fs::copy(&old.key_file, &key).unwrap();
    assert!(key_set(addr, &verifying_only(&new)).await.is_ok());
}

#[tokio::test]
async fn the_metrics_port_speaks_tls_without_asking_for_a_client_certificate() {
    let pki = TestPki::new("metrics");
    let mut suite = Suite::new().await;
    let metrics = keyholder_testkit::smtp::reserve_addr();
    suite.config.identity.metrics_listen = Some(metrics);
    // Mutual TLS on the gRPC port; Prometheus and probes hold no certificate.
    suite.config.tls = pki.config(true);
    suite.start_identity().await;

    let mut ready = String::new();
    for _ in 0..100 {
        ready = keyholder_testkit::tls::https_get(metrics, &pki.ca_file, "/ready")
            .await
            .unwrap_or_default();
        if ready.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.ends_with("ready\n"), "{ready}");
    let scraped = keyholder_testkit::tls::https_get(metrics, &pki.ca_file, "/metrics")
        .await
        .unwrap();
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        scraped.contains("keyholder_outbox_pending{service=\"identity\"}"),
        "{scraped}"
    );

    // Plaintext to the same port gets no answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut plain = tokio::net::TcpStream::connect(metrics).await.unwrap();
    plain
        .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw).await;
    assert!(
        !raw.starts_with(b"HTTP/1.1"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}
