//! Runtime choice of the instruction set for the distance kernel.
//!
//! The release binary is built for baseline x86-64 (SSE2), so that it runs on any server; on
//! such a build LLVM may only use AVX2/AVX-512 inside functions marked `#[target_feature]`. Each
//! function below compiles the same safe kernel ([`super::kernel`]) with wider vectors and
//! block sizes that fit that register file.
#![allow(unsafe_code)]
// Why `unsafe` is allowed here, and only here: calling a `#[target_feature]` function from code
// compiled without those features is `unsafe` (running AVX-512 code on a CPU without it is
// undefined behaviour). Each call below is made only after `is_x86_feature_detected!` has
// confirmed every feature the callee enables. Nothing else in this module is unsafe: no
// intrinsics, no raw pointers.

use std::sync::OnceLock;

use super::kernel::{self, Fused};
use super::search::Scan;

/// Instruction set used by the search kernel, from widest to the portable fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Compiled for the target's baseline (SSE2 on x86-64, NEON on AArch64).
    Portable,
    /// x86-64 with AVX2 and FMA: 8-lane vectors, 16 registers.
    Avx2,
    /// x86-64 with AVX-512F: 16-lane vectors, 32 registers.
    Avx512,
}

/// The widest instruction set this CPU supports (detected once).
pub fn detected_isa() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        Isa::Avx512
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Portable
}

/// Run the kernel over `scan` with `wanted`, lowered to what the CPU supports.
pub(super) fn run(wanted: Isa, scan: &mut Scan<'_>) {
    match wanted.min(detected_isa()) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detected_isa()` returned at least `Avx512`, i.e. avx512f, avx2 and fma are present.
        Isa::Avx512 => unsafe { scan_avx512(scan) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detected_isa()` returned at least `Avx2`, i.e. avx2 and fma are present.
        Isa::Avx2 => unsafe { scan_avx2(scan) },
        _ => scan_portable(scan),
    }
}

/// 8 queries x 3 panels = 24 accumulators + 3 gallery vectors + 1 broadcast of 32 zmm registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn scan_avx512(scan: &mut Scan<'_>) {
    kernel::scan::<Fused, 8, 3>(scan);
}

/// 4 queries x 1 panel (2 ymm each) = 8 accumulators + 2 gallery vectors of 16 ymm registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scan_avx2(scan: &mut Scan<'_>) {
    kernel::scan::<Fused, 4, 1>(scan);
}

/// 2 queries x 1 panel (4 xmm each) = 8 accumulators + 4 gallery vectors of 16 xmm registers.
fn scan_portable(scan: &mut Scan<'_>) {
    #[cfg(any(target_arch = "aarch64", target_feature = "fma"))]
    kernel::scan::<Fused, 2, 1>(scan);
    #[cfg(not(any(target_arch = "aarch64", target_feature = "fma")))]
    kernel::scan::<kernel::Separate, 2, 1>(scan);
}
