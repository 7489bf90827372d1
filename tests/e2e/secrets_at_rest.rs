//! Secrets at rest: whoever copies a database (file or backup) gets no
//! signing key and no TOTP secret, and cannot mint a token the services
//! accept with what the database holds.

use crate::flows::World;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyholder_kit::auth::{ACCESS_TOKEN_TYPE, AccessClaims};
use keyholder_kit::config::ServiceName;
use keyholder_kit::kek::{self, KekRing};
use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::{Suite, bearer};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};
use tonic::Code;

async fn connect(s: &Suite, service: ServiceName) -> DatabaseConnection {
    keyholder_kit::db::connect(&s.config.database_url(service))
        .await
        .unwrap()
}

/// (key column, value) of every row of a query's first two columns; binary
/// values come back as their bytes.
async fn rows(s: &Suite, service: ServiceName, sql: &str, binary: bool) -> Vec<(String, Vec<u8>)> {
    let db = connect(s, service).await;
    let found = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    found
        .iter()
        .map(|r| {
            let key: String = r.try_get_by_index(0).unwrap();
            let value: Vec<u8> = if binary {
                r.try_get_by_index(1).unwrap()
            } else {
                r.try_get_by_index::<String>(1).unwrap().into_bytes()
            };
            (key, value)
        })
        .collect()
}

/// Everything the thief of `service`'s database gets: on SQLite the raw
/// bytes of the file and its write-ahead log, on PostgreSQL every row of
/// the service's tables as text.
async fn stolen(s: &Suite, service: ServiceName) -> Vec<u8> {
    if keyholder_testkit::db::on_postgres() {
        let db = connect(s, service).await;
        let backend = db.get_database_backend();
        let tables = db
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = 'public' AND table_name LIKE '{}\\_%'",
                    service.as_str()
                ),
            ))
            .await
            .unwrap();
        let mut out = Vec::new();
        for t in tables {
            let table: String = t.try_get_by_index(0).unwrap();
            for r in db
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT row_to_json(t)::text FROM {table} t"),
                ))
                .await
                .unwrap()
            {
                out.extend(r.try_get_by_index::<String>(0).unwrap().into_bytes());
            }
        }
        out
    } else {
        let file = s.dir.path().join(format!("{}.db", service.as_str()));
        let mut out = std::fs::read(&file).unwrap();
        let wal = file.with_extension("db-wal");
        if wal.exists() {
            out.extend(std::fs::read(wal).unwrap());
        }
        out
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that none of the forms a private key could be stored in (the
/// PKCS#8 document raw, in base64 or hex, or its 32-byte seed) is in `bytes`.
fn assert_key_absent(bytes: &[u8], pkcs8: &[u8], what: &str) {
    let seed = &pkcs8[16..48];
    for (form, needle) in [
        ("raw PKCS#8", pkcs8.to_vec()),
        ("raw seed", seed.to_vec()),
        ("base64 PKCS#8", STANDARD.encode(pkcs8).into_bytes()),
        ("hex seed", hex(seed).into_bytes()),
    ] {
        assert!(!contains(bytes, &needle), "{what} found in clear ({form})");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Opens a stored envelope with the suite's KEK (what an attacker lacks).
fn open(s: &Suite, purpose: &str, row: &str, stored: &[u8]) -> Vec<u8> {
    let ring = KekRing::from_config(&s.config).unwrap();
    let stored = std::str::from_utf8(stored).unwrap();
    assert!(kek::is_envelope(stored), "{purpose} of {row} is sealed");
    ring.open(purpose, row, stored).unwrap()
}

#[tokio::test]
async fn a_stolen_database_holds_no_signing_key_and_no_totp_secret_in_clear() {
    let w = World::start("Acme", identity::Locale::En).await;
    let s = &w.suite;
    // A pending TOTP enrolment too, besides the agent's enrolled secret.
    let pending = s
        .identity()
        .begin_totp_enrollment(bearer(
            identity::BeginTotpEnrollmentRequest {},
            &w.tenant.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .secret;

    let identity_db = stolen(s, ServiceName::Identity).await;
    // What the search reads does hold the tables (their envelopes are there).
    let users = rows(
        s,
        ServiceName::Identity,
        "SELECT user_id, totp_secret FROM identity_users WHERE totp_secret IS NOT NULL",
        false,
    )
    .await;
    assert!(contains(&identity_db, &users[0].1));
    for secret in [&w.agent.totp_secret, &pending] {
        assert_eq!(secret.len(), 32, "a base32 TOTP secret");
        assert!(
            !contains(&identity_db, secret.as_bytes()),
            "a TOTP secret found in clear"
        );
    }
    // The sealed values open to those very secrets with the KEK.
    let totp = rows(
        s,
        ServiceName::Identity,
        &format!(
            "SELECT user_id, totp_secret FROM identity_users WHERE user_id = '{}'",
            w.agent.agent_id
        ),
        false,
    )
    .await;
    assert_eq!(
        open(s, "identity.totp", &totp[0].0, &totp[0].1),
        w.agent.totp_secret.as_bytes()
    );

    let signing = rows(
        s,
        ServiceName::Identity,
        "SELECT kid, private_key FROM identity_signing_keys",
        false,
    )
    .await;
    assert_eq!(signing.len(), 1);
    let b64 = open(s, "identity.signing_key", &signing[0].0, &signing[0].1);
    let pkcs8 = STANDARD.decode(&b64).unwrap();
    assert_key_absent(&identity_db, &pkcs8, "identity's signing key");

    let broker_keys = rows(
        s,
        ServiceName::Broker,
        "SELECT kid, private_key FROM broker_keys",
        true,
    )
    .await;
    assert_eq!(broker_keys.len(), 1);
    let pkcs8 = open(
        s,
        "broker.session_key",
        &broker_keys[0].0,
        &broker_keys[0].1,
    );
    assert_key_absent(
        &stolen(s, ServiceName::Broker).await,
        &pkcs8,
        "broker's session key",
    );

    let audit_keys = rows(
        s,
        ServiceName::Audit,
        "SELECT key_id, private_key FROM audit_signing_keys",
        false,
    )
    .await;
    assert_eq!(audit_keys.len(), 1);
    let b64 = open(
        s,
        "audit.checkpoint_key",
        &audit_keys[0].0,
        &audit_keys[0].1,
    );
    assert_key_absent(
        &stolen(s, ServiceName::Audit).await,
        &STANDARD.decode(&b64).unwrap(),
        "audit's checkpoint key",
    );
}

/// A minimal PKCS#8 (v1) document of an Ed25519 key from its 32-byte seed.
fn pkcs8_of_seed(seed: &[u8]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed[..32]);
    der
}

async fn calls_with(w: &World, token: &str) -> [Result<(), tonic::Status>; 3] {
    let s = &w.suite;
    let tenant_id = w.tenant.tenant_id.clone();
    [
        s.identity()
            .get_tenant(bearer(
                identity::GetTenantRequest {
                    tenant_id: tenant_id.clone(),
                },
                token,
            ))
            .await
            .map(drop),
        s.broker()
            .get_support_access_settings(bearer(
                broker::GetSupportAccessSettingsRequest {
                    tenant_id: tenant_id.clone(),
                },
                token,
            ))
            .await
            .map(drop),
        s.audit()
            .list_events(bearer(
                audit::ListEventsRequest {
                    tenant_id,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
    ]
}

#[tokio::test]
async fn a_token_minted_with_the_key_taken_from_the_database_is_refused_everywhere() {
    let w = World::start("Acme", identity::Locale::En).await;
    let s = &w.suite;
    let body = w.tenant.admin_token.split('.').nth(1).unwrap();
    let mut claims: AccessClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    claims.jti = uuid::Uuid::new_v4().to_string();
    let key = rows(
        s,
        ServiceName::Identity,
        "SELECT kid, private_key FROM identity_signing_keys WHERE retired_at_us IS NULL",
        false,
    )
    .await
    .remove(0);
    let stored = String::from_utf8(key.1.clone()).unwrap();

    // The column is no longer the base64 PKCS#8 document it used to be.
    assert!(STANDARD.decode(&stored).is_err());
    assert!(
        keyholder_kit::jwt::sign(&claims, ACCESS_TOKEN_TYPE, &key.0, stored.as_bytes()).is_err()
    );
    // The best a thief can do: take the ciphertext's bytes as the key.
    let ciphertext = URL_SAFE_NO_PAD
        .decode(stored.rsplit('.').next().unwrap())
        .unwrap();
    let forged = keyholder_kit::jwt::sign(
        &claims,
        ACCESS_TOKEN_TYPE,
        &key.0,
        &pkcs8_of_seed(&ciphertext),
    )
    .unwrap();
    for (service, outcome) in ["identity", "broker", "audit"]
        .iter()
        .zip(calls_with(&w, &forged).await)
    {
        let err = outcome.expect_err(service);
        assert_eq!(err.code(), Code::Unauthenticated, "{service}: {err:?}");
    }

    // Control: the same token signed with the key the KEK opens is
    // accepted by all three, so the refusal above is the key's doing.
    let pkcs8 = STANDARD
        .decode(open(s, "identity.signing_key", &key.0, &key.1))
        .unwrap();
    let genuine = keyholder_kit::jwt::sign(&claims, ACCESS_TOKEN_TYPE, &key.0, &pkcs8).unwrap();
    for (service, outcome) in ["identity", "broker", "audit"]
        .iter()
        .zip(calls_with(&w, &genuine).await)
    {
        assert!(outcome.is_ok(), "{service}: {outcome:?}");
    }
}

/// Writes `value` into `table.column` of the row whose `key` is `id`.
async fn write(
    s: &Suite,
    service: ServiceName,
    table: &str,
    key: &str,
    column: &str,
    id: &str,
    value: Value,
) {
    let db = connect(s, service).await;
    let q = Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), value)
        .and_where(Expr::col(Alias::new(key)).eq(id))
        .to_owned();
    assert_eq!(db.execute(&q).await.unwrap().rows_affected(), 1);
}

#[tokio::test]
async fn plaintext_left_by_an_earlier_version_is_sealed_at_start_up() {
    let mut w = World::start("Acme", identity::Locale::En).await;
    let tables = [
        (
            ServiceName::Identity,
            "identity_signing_keys",
            "kid",
            "private_key",
            "identity.signing_key",
            false,
        ),
        (
            ServiceName::Identity,
            "identity_users",
            "user_id",
            "totp_secret",
            "identity.totp",
            false,
        ),
        (
            ServiceName::Broker,
            "broker_keys",
            "kid",
            "private_key",
            "broker.session_key",
            true,
        ),
        (
            ServiceName::Audit,
            "audit_signing_keys",
            "key_id",
            "private_key",
            "audit.checkpoint_key",
            false,
        ),
    ];
    // Turn the databases into what the previous version stored: plaintext.
    let mut plain = Vec::new();
    for (service, table, key, column, purpose, binary) in tables {
        let sql = format!("SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL");
        for (id, stored) in rows(&w.suite, service, &sql, binary).await {
            let clear = open(&w.suite, purpose, &id, &stored);
            let value: Value = if binary {
                clear.clone().into()
            } else {
                String::from_utf8(clear.clone()).unwrap().into()
            };
            write(&w.suite, service, table, key, column, &id, value).await;
            plain.push((service, table, key, column, purpose, binary, id, clear));
        }
    }
    assert_eq!(
        plain.len(),
        4,
        "one key per service and the agent's TOTP secret"
    );
    w.suite.shutdown.cancel();

    // The new version starts on them.
    w.suite.shutdown = keyholder_kit::CancellationToken::new();
    w.suite.start_identity().await;
    w.suite.start_audit().await;
    w.suite.start_broker().await;
    for (service, table, key, column, purpose, binary, id, clear) in &plain {
        let sql = format!("SELECT {key}, {column} FROM {table} WHERE {key} = '{id}'");
        let now = rows(&w.suite, *service, &sql, *binary).await;
        assert_eq!(
            &open(&w.suite, purpose, id, &now[0].1),
            clear,
            "{table}.{column}"
        );
    }
    // Same keys and secrets as before: the agent signs in with TOTP, and the
    // admin's token from before the upgrade is still good everywhere.
    // (The code of the next step: the fixture spent the current one.)
    let a = &w.agent;
    w.suite
        .sign_in(
            "",
            &a.email,
            &a.password,
            &w.suite.next_totp(&a.totp_secret),
        )
        .await;
    for (service, outcome) in ["identity", "broker", "audit"]
        .iter()
        .zip(calls_with(&w, &w.tenant.admin_token).await)
    {
        assert!(outcome.is_ok(), "{service}: {outcome:?}");
    }
}
