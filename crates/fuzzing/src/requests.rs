//! Every request message of the three services, through the real handlers:
//! the whole suite runs in this process on SQLite (real ports, real
//! database, the testkit's SMTP server), and the fuzzer's bytes become the
//! request message of any RPC, sent by any kind of caller.

use keyholder_testkit::Suite;
use keyholder_testkit::raw_rpc::{Ports, Rpc, all_rpcs, call_raw, is_crash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Calls between two re-issues of the callers' tokens: a generated
/// `SignOut{everywhere}` or a lowering can end a caller's token, and the
/// fuzzer should not spend the rest of a run unauthenticated.
const REISSUE_EVERY: u64 = 2_000;

struct Fixture {
    suite: Suite,
    ports: Ports,
    rpcs: Vec<Rpc>,
    callers: Mutex<Vec<String>>,
    calls: AtomicU64,
}

/// One token per kind of caller: operator, chief admin, support agent,
/// service account with every producer scope, and none.
async fn callers(suite: &Suite) -> Vec<String> {
    let t = suite.create_tenant("Fuzz Ltd", 50).await;
    let agent = suite.create_agent("Fuzz Agent").await;
    let (_, backend) = suite
        .create_service_account(
            "fuzz-backend",
            &[
                "broker.check_access",
                "identity.authorize",
                "audit.events.write",
            ],
        )
        .await;
    vec![
        suite.operator_token().await,
        t.admin_token,
        agent.token,
        backend,
        String::new(),
    ]
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        crate::runtime().block_on(async {
            let mut suite = Suite::new().await;
            suite.start_identity().await;
            suite.start_audit().await;
            suite.start_broker().await;
            let ports = Ports::of_suite(&suite);
            let callers = callers(&suite).await;
            Fixture {
                suite,
                ports,
                rpcs: all_rpcs(),
                callers: Mutex::new(callers),
                calls: AtomicU64::new(0),
            }
        })
    })
}

/// Byte 0 picks the RPC, byte 1 the caller; the rest is the message.
pub fn request(data: &[u8]) {
    let [which, who, body @ ..] = data else {
        return;
    };
    let f = fixture();
    let rpc = &f.rpcs[usize::from(*which) % f.rpcs.len()];
    let n = f.calls.fetch_add(1, Ordering::Relaxed);
    if n > 0 && n.is_multiple_of(REISSUE_EVERY) {
        let fresh = crate::runtime().block_on(callers(&f.suite));
        *f.callers.lock().expect("callers") = fresh;
    }
    let token = {
        let callers = f.callers.lock().expect("callers");
        callers[usize::from(*who) % callers.len()].clone()
    };
    let (code, msg) =
        crate::runtime().block_on(call_raw(f.ports.of(rpc), rpc, &token, body.to_vec()));
    assert!(!is_crash(code), "{} crashed with {code:?}: {msg}", rpc.path);
}
