#![no_main]
//! cargo fuzz run page_token — see BENCHMARKS.md for the command and last figures.

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyholder_fuzzing::page_token(data));
