//! Replays every input the fuzz runs kept in `fuzz/corpus/<target>/`, then
//! a bounded number of generated ones (`FUZZ_GENERATED` per target, default
//! 300; the request target makes real calls, so it gets a tenth), through
//! the same harnesses the cargo-fuzz targets run. A harness panics when an
//! oracle fails, so this test fails on any input that ever crashed or broke
//! a rule.

#![allow(clippy::expect_used, clippy::panic)]

use keyholder_fuzzing::{TARGETS, run};
use keyholder_testkit::xorshift::Xorshift;
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// A corpus entry with a few bytes changed, cut or repeated — or, with
/// no corpus, random bytes.
fn mutate(g: &mut Xorshift, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = if seeds.is_empty() {
        Vec::new()
    } else {
        seeds[(g.next_u64() % seeds.len() as u64) as usize].clone()
    };
    for _ in 0..1 + g.next_u64() % 8 {
        let at = if out.is_empty() {
            0
        } else {
            (g.next_u64() % out.len() as u64) as usize
        };
        match g.next_u64() % 4 {
            0 if at < out.len() => out[at] = g.next_u64() as u8,
            1 if at < out.len() => {
                out.remove(at);
            }
            2 => out.insert(at, g.next_u64() as u8),
            _ => {
                let tail: Vec<u8> = out[at..].to_vec();
                out.extend(tail.iter().take(64));
            }
        }
    }
    out
}

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("corpus file");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

fn replay(target: &str) {
    let kept = seeds(target);
    assert!(!kept.is_empty(), "fuzz/corpus/{target} is empty");
    // Every failing input is listed, not only the first.
    let failing: Vec<String> = kept
        .iter()
        .filter(|(_, bytes)| !matches!(std::panic::catch_unwind(|| run(target, bytes)), Ok(true)))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        failing.is_empty(),
        "{target}: {} corpus inputs fail:\n{}",
        failing.len(),
        failing.join("\n")
    );
    let per_target: u64 = std::env::var("FUZZ_GENERATED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let n = if target == "request" {
        per_target / 10
    } else {
        per_target
    };
    let seed = 0x00C0_FFEE_u64 ^ target.len() as u64;
    let mut g = Xorshift(seed);
    let bytes: Vec<Vec<u8>> = kept.into_iter().map(|(_, b)| b).collect();
    for i in 0..n {
        let input = mutate(&mut g, &bytes);
        let outcome = std::panic::catch_unwind(|| run(target, &input));
        assert!(
            matches!(outcome, Ok(true)),
            "{target}: generated input {i} (seed {seed:#x}) fails: {input:?}"
        );
    }
}

#[test]
fn every_target_has_a_corpus_and_a_cargo_fuzz_target() {
    for t in TARGETS {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/fuzz_targets")
            .join(format!("{t}.rs"));
        assert!(target.is_file(), "{} is missing", target.display());
        assert!(!seeds(t).is_empty(), "fuzz/corpus/{t} is empty");
    }
}

#[test]
fn page_token_corpus() {
    replay("page_token");
}

#[test]
fn access_token_corpus() {
    replay("access_token");
}

#[test]
fn session_token_corpus() {
    replay("session_token");
}

#[test]
fn rights_corpus() {
    replay("rights");
}

#[test]
fn request_corpus() {
    replay("request");
}
