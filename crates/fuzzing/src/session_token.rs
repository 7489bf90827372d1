//! The broker's support-session tokens, verified by the broker's own key
//! store on a real (SQLite) database.

use keyholder_broker::session_token::{AUDIENCE, ISSUER, ScopeClaim, SessionClaims, SessionKeys};
use keyholder_kit::secret::Secret;
use std::sync::OnceLock;

struct Fixture {
    keys: SessionKeys,
    valid: String,
    _dir: tempfile::TempDir,
}

fn claims(now: i64) -> SessionClaims {
    SessionClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "agent-1".into(),
        exp: now + 600,
        nbf: now - 5,
        iat: now - 5,
        jti: "j-1".into(),
        tid: "t-1".into(),
        gid: "g-1".into(),
        sid: "s-1".into(),
        scope: ScopeClaim {
            read_only: true,
            roles: vec![],
            rights: vec!["crm.deal:read".into()],
        },
        reason: "fuzzing".into(),
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        crate::runtime().block_on(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/broker.db", dir.path().display());
            let db = keyholder_kit::db::open::<keyholder_broker::migrations::Migrator>(
                &Secret::new(url),
                true,
            )
            .await
            .expect("broker database");
            let now = chrono::Utc::now();
            let kek = keyholder_kit::kek::generate()
                .and_then(|k| keyholder_kit::kek::KekRing::parse(k.expose()))
                .expect("a key-encryption key");
            let keys = SessionKeys::load_or_create(&db, &kek, now)
                .await
                .expect("session keys");
            let valid = keys.sign(&claims(now.timestamp())).expect("sign");
            Fixture {
                keys,
                valid,
                _dir: dir,
            }
        })
    })
}

/// Byte 0 picks how the rest is used: 0, the token itself; 1, edits to a
/// validly signed token; 2, the fields of claims the broker signs (its own
/// key), which it must still refuse when they are not current or not its.
pub fn session_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let now = chrono::Utc::now();
    let t = now.timestamp();
    let (token, signed) = match mode % 3 {
        0 => (crate::text(rest), None),
        1 => (crate::tamper(&f.valid, rest), None),
        _ => {
            let text = crate::text(rest);
            let mut parts = text.splitn(4, '\n');
            let mut c = claims(t);
            c.iss = parts.next().unwrap_or_default().to_string();
            c.aud = parts.next().unwrap_or_default().to_string();
            let shift = |s: Option<&str>| s.and_then(|v| v.trim().parse::<i64>().ok());
            c.exp = shift(parts.next()).map_or(c.exp, |d| t.saturating_add(d));
            c.nbf = shift(parts.next()).map_or(c.nbf, |d| t.saturating_add(d));
            let Ok(token) = f.keys.sign(&c) else { return };
            (token, Some(c))
        }
    };
    let verdict = crate::runtime().block_on(f.keys.verify(&token, now));
    if let Ok(got) = verdict {
        assert_eq!(got.iss, ISSUER, "accepted issuer {:?}", got.iss);
        assert_eq!(got.aud, AUDIENCE, "accepted audience {:?}", got.aud);
        assert!(
            got.exp.saturating_add(5) >= t && got.nbf.saturating_sub(5) <= t,
            "accepted out of time"
        );
        match (mode % 3, signed) {
            (1, _) => assert_eq!(got, claims_of(&f.valid), "a tampered token was accepted"),
            (_, Some(c)) => assert_eq!(got, c),
            _ => {}
        }
    }
}

fn claims_of(token: &str) -> SessionClaims {
    let (_, body) = crate::jws_parts(token).expect("a JWS");
    serde_json::from_slice(&body).expect("claims")
}
