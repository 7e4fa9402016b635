//! Arbitrary upload bytes through the pipeline's entry; the body is
//! `rollcall::fuzzing::decode` (the tests replay saved inputs through the same function).

#![no_main]

use libfuzzer_sys::fuzz_target;

/// libfuzzer-sys's panic hook aborts on every panic, even one `decode` catches (its contract:
/// a panicking decoder, a bug in a dependency, is reported as `Corrupt`). This hook only
/// prints, so a caught panic is judged by what `decode` returns; a panic that escapes still
/// aborts (libfuzzer-sys catches it around the target and aborts), which is a crash.
fn report_panics_without_aborting() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("caught? {info}"))));
}

fuzz_target!(|data: &[u8]| {
    report_panics_without_aborting();
    rollcall::fuzzing::decode(data);
});
