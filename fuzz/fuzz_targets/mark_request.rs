//! Arbitrary `POST /mark` requests through the handler's body parser; the body is
//! `rollcall::fuzzing::mark_request` (the tests replay saved inputs through the same function).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rollcall::fuzzing::mark_request(data));
