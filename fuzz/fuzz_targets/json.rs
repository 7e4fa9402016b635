//! Arbitrary bytes as the JSON bodies the API reads; the body is `rollcall::fuzzing::json`
//! (the tests replay saved inputs through the same function).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rollcall::fuzzing::json(data));
