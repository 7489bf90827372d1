//! Every RPC of the three services, fed generated protobuf messages — random
//! fields, wire types and values, strings with control, bidi and non-UTF-8
//! bytes, huge varints — by every kind of caller. Whatever arrives, the answer
//! is a deliberate status: never INTERNAL, UNKNOWN, CANCELLED (a panic or a
//! reset stream) or DATA_LOSS. A bounded number of cases runs in CI; raise
//! `FUZZ_CASES` to run longer by hand. The seed is printed on failure.

use keyholder_testkit::Suite;
use keyholder_testkit::raw_rpc::{Ports, Rpc, all_rpcs, call_raw, is_crash};
use keyholder_testkit::xorshift::Xorshift;

/// Protobuf-shaped test input drawn from the shared generator.
trait Messages {
    fn varint(&mut self, out: &mut Vec<u8>, v: u64);
    fn text(&mut self) -> Vec<u8>;
    fn message(&mut self, depth: u32) -> Vec<u8>;
}

impl Messages for Xorshift {
    fn varint(&mut self, out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// Interesting text: UUID-like, control characters, bidi overrides,
    /// SQL, long runs, invalid UTF-8.
    fn text(&mut self) -> Vec<u8> {
        const PIECES: &[&str] = &[
            "",
            "a",
            "00000000-0000-0000-0000-000000000000",
            "\0",
            "\u{7}",
            "\r\n",
            "\u{202e}gnp.exe",
            "'; DROP TABLE users; --",
            "b8:o:18446744073709551615",
            "bzoxODQ0Njc0NDA3MzcwOTU1MTYxNQ",
            "crm.deal",
            "read",
            "a@b.example",
            "%s%n",
            "\u{feff}",
        ];
        let mut out = Vec::new();
        for _ in 0..self.below(4) {
            match self.below(4) {
                0 => out
                    .extend_from_slice(PIECES[self.below(PIECES.len() as u64) as usize].as_bytes()),
                1 => out.extend(std::iter::repeat_n(b'x', self.below(3000) as usize)),
                2 => out.extend([0xff, 0xfe, 0xc3]),
                _ => out.extend(uuid::Uuid::new_v4().to_string().as_bytes()),
            }
        }
        out
    }

    /// A message of random fields 1..=12 with random wire types.
    fn message(&mut self, depth: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..self.below(8) {
            let field = 1 + self.below(12);
            match self.below(5) {
                0 => {
                    self.varint(&mut out, field << 3);
                    let v = match self.below(4) {
                        0 => u64::MAX,
                        1 => self.below(50),
                        2 => i64::MIN as u64,
                        _ => self.next_u64(),
                    };
                    self.varint(&mut out, v);
                }
                1 | 2 => {
                    let body = if depth < 2 && self.below(3) == 0 {
                        self.message(depth + 1)
                    } else {
                        self.text()
                    };
                    self.varint(&mut out, (field << 3) | 2);
                    self.varint(&mut out, body.len() as u64);
                    out.extend(body);
                }
                3 => {
                    self.varint(&mut out, (field << 3) | 1);
                    out.extend(self.next_u64().to_le_bytes());
                }
                _ => {
                    // Raw garbage: a truncated or impossible encoding.
                    for _ in 0..self.below(16) {
                        out.push(self.next_u64() as u8);
                    }
                }
            }
        }
        out
    }
}

#[tokio::test]
async fn no_generated_message_crashes_any_rpc_for_any_caller() {
    let cases: u64 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_cafe_f00d_0001);
    let mut s = Suite::new().await;
    s.start_identity().await;
    s.start_audit().await;
    s.start_broker().await;
    let t = s.create_tenant("Initech", 20).await;
    let agent = s.create_agent("Ivan Petrov").await;
    let (_, backend) = s
        .create_service_account(
            "crm-backend",
            &[
                "broker.check_access",
                "identity.authorize",
                "audit.events.write",
            ],
        )
        .await;
    let operator = s.operator_token().await;
    let callers = [
        ("operator", operator),
        ("chief admin", t.admin_token.clone()),
        ("agent", agent.token.clone()),
        ("service account", backend),
        ("no token", String::new()),
    ];
    let ports = Ports::of_suite(&s);
    let rpcs: Vec<Rpc> = all_rpcs();
    let mut g = Xorshift(seed);
    let mut crashes = Vec::new();
    let mut calls = 0u64;
    for rpc in &rpcs {
        for (who, token) in &callers {
            for _ in 0..cases {
                let state = g.0;
                let body = g.message(0);
                let (code, msg) = call_raw(ports.of(rpc), rpc, token, body).await;
                calls += 1;
                if is_crash(code) {
                    crashes.push(format!(
                        "{} as {who} (generator state {state:#x}): {code:?} {msg}",
                        rpc.path
                    ));
                }
            }
        }
    }
    assert!(calls > 600, "only {calls} calls made");
    assert!(
        crashes.is_empty(),
        "seed {seed:#x}: {} of {calls} calls crashed:\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}
