#![no_main]
//! cargo fuzz run chain_content — see BENCHMARKS.md for the command and last figures.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyholder_fuzzing::chain_content(data));
