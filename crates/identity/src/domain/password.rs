//! Passwords: argon2id (the crate's defaults: 19 MiB, 2 passes), salted per hash.
//!
//! Every hash runs on a small pool: at most one per core at a time, each on
//! a blocking thread (so sign-ins never stall the async workers), each in a
//! 19 MiB working set kept and reused by the pool. Concurrent sign-ins queue
//! for a slot instead of each allocating its own working set, so identity's
//! memory is bounded by the pool, not by how many people sign in at once.

use crate::error::{Error, Result};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{LazyLock, Mutex};
use tokio::sync::Semaphore;

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted (bounds hashing work).
pub const MAX_LEN: usize = 256;
/// Longest password, in bytes, that is hashed or verified at all: `MAX_LEN`
/// characters of four UTF-8 bytes each, so no password that could be set is
/// ever refused at sign-in. Argon2 pre-hashes its input, so without a cap a
/// 3 MB password costs the server over half a second of CPU.
pub const MAX_BYTES: usize = MAX_LEN * 4;

/// Refuses a password too long to be worth hashing, before any work on it.
pub fn check_size(password: &str) -> Result<()> {
    if password.len() > MAX_BYTES {
        return Err(Error::invalid(format!(
            "password must be at most {MAX_LEN} characters long"
        )));
    }
    Ok(())
}

/// Refuses passwords that are too short or too long.
pub fn validate(password: &str) -> Result<()> {
    check_size(password)?;
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(Error::invalid(format!(
            "password must be at least {MIN_LEN} characters long"
        )));
    }
    if n > MAX_LEN {
        return Err(Error::invalid(format!(
            "password must be at most {MAX_LEN} characters long"
        )));
    }
    Ok(())
}

/// The hashing pool: a slot per core, each with its kept working set.
struct Pool {
    slots: Semaphore,
    memory: Mutex<Vec<Vec<Block>>>,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    Pool {
        slots: Semaphore::new(n),
        memory: Mutex::new(Vec::with_capacity(n)),
    }
});

/// Runs `work` with a working set of `blocks` blocks, in a pool slot, on a
/// blocking thread.
async fn pooled<T: Send + 'static>(
    blocks: usize,
    work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
) -> Result<T> {
    let _slot = POOL
        .slots
        .acquire()
        .await
        .map_err(|_| Error::internal("the password hashing pool is closed"))?;
    let mut memory = POOL
        .memory
        .lock()
        .map(|mut m| m.pop())
        .unwrap_or_default()
        .unwrap_or_default();
    let (memory, out) = tokio::task::spawn_blocking(move || {
        // Stored hashes made with other parameters need another size.
        memory.resize(blocks, Block::default());
        let out = work(&mut memory);
        (memory, out)
    })
    .await
    .map_err(|e| Error::internal(format!("password hashing stopped: {e}")))?;
    if memory.len() == Params::DEFAULT.block_count()
        && let Ok(mut kept) = POOL.memory.lock()
    {
        kept.push(memory);
    }
    Ok(out)
}

/// An argon2id PHC string of `password`.
pub async fn hash(password: &str) -> Result<String> {
    let failed =
        |e: &dyn std::fmt::Display| Error::internal(format!("password hashing failed: {e}"));
    let password = password.as_bytes().to_vec();
    let salt = super::random::bytes(16)?;
    let params = Params::DEFAULT;
    let (for_hash, for_phc) = (salt.clone(), params.clone());
    let out = pooled(params.block_count(), move |memory| {
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(&password, &for_hash, &mut out, memory)
            .map(|()| out)
    })
    .await?
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&for_phc).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// True when `password` matches the PHC string `stored`.
pub async fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm.as_str()),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let password = password.as_bytes().to_vec();
    let blocks = params.block_count();
    let computed = pooled(blocks, move |memory| {
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(&password, salt.as_ref(), &mut out, memory)
            .ok()
            // `Output`'s equality is constant-time.
            .and_then(|()| Output::new(&out).ok())
            .is_some_and(|o| o == expected)
    })
    .await;
    computed.unwrap_or(false)
}

/// Verifies `password` against a fixed hash with the same parameters as real
/// ones, for an unknown e-mail: the answer then takes as long as for a
/// wrong password, so e-mails cannot be probed by timing. Always false.
pub async fn verify_dummy(password: &str) -> bool {
    verify(password, DUMMY_HASH).await
}

/// An argon2id hash of a random string nobody kept, with the crate's default
/// parameters (a test checks they still match `hash`'s).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$byIN24xQsbVzLTJeyVYPvw$lAA5jD1i9lQJeckgigDK3OIu24DFa2x4M70tnxUziQk";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery").await.unwrap_or_default();
        let b = hash("correct horse battery").await.unwrap_or_default();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify("correct horse battery", &a).await);
        assert!(!verify("wrong horse battery", &a).await);
        assert!(!verify("correct horse battery", "not a hash").await);
    }

    #[tokio::test]
    async fn hashes_made_by_the_crate_itself_and_with_other_parameters_verify() {
        use argon2::password_hash::PasswordHasher;
        // What identity stored before the pool: the crate's own PHC strings.
        let old = Argon2::default()
            .hash_password(b"an older password")
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(verify("an older password", &old).await);
        assert!(!verify("another password", &old).await);
        // A smaller working set than the pool keeps (m=8 MiB, t=3).
        let params = Params::new(8192, 3, 1, None).unwrap_or_default();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"with other parameters")
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(other.contains("m=8192,t=3"), "{other}");
        assert!(verify("with other parameters", &other).await);
        assert!(!verify("with other parameter", &other).await);
    }

    #[tokio::test]
    async fn concurrent_hashes_share_the_pool_and_all_verify() {
        let tasks: Vec<_> = (0..6)
            .map(|i| tokio::spawn(async move { (i, hash(&format!("password number {i}")).await) }))
            .collect();
        for t in tasks {
            let (i, h) = t.await.unwrap_or((99, Ok(String::new())));
            let h = h.unwrap_or_default();
            assert!(verify(&format!("password number {i}"), &h).await);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let kept = POOL.memory.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(kept <= cores, "{kept} working sets kept for {cores} slots");
    }

    #[test]
    fn length_rules() {
        assert!(validate("short").is_err());
        assert!(validate("twelve chars").is_ok());
        assert!(validate(&"x".repeat(MAX_LEN + 1)).is_err());
        // The longest settable password passes the sign-in size check.
        let key = "\u{1F511}";
        assert!(validate(&key.repeat(MAX_LEN)).is_ok());
        assert!(check_size(&key.repeat(MAX_LEN)).is_ok());
        assert!(check_size(&"x".repeat(MAX_BYTES + 1)).is_err());
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = hash("whatever it is").await.unwrap_or_default();
        let params = |phc: &str| phc.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_dummy("no such user, no such password").await);
    }
}
