//! Decode images with `vision::decode` and dump the raw RGB8 pixels, for pixel-parity checks
//! against PIL (`scripts/jpeg_parity.py`) and decode timings.
//!
//! `cargo run --release --example decode_dump -- turbo|zune OUT_DIR FILE...` writes
//! `OUT_DIR/N.rgb` for the N-th file and prints `N<TAB>width<TAB>height<TAB>ms<TAB>file`
//! (or `N<TAB>error<TAB>message<TAB><TAB>file`). The time is the best of `ROLLCALL_DECODE_REPS`
//! runs (default 1).

use std::path::PathBuf;
use std::time::Instant;

use rollcall::vision::decode::{JpegDecoder, Limits, decode_with};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: decode_dump turbo|zune OUT_DIR FILE...";
    let decoder = match args.next().as_deref() {
        Some("turbo") => JpegDecoder::Turbo,
        Some("zune") => JpegDecoder::Zune,
        _ => anyhow::bail!(usage),
    };
    let out = PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!(usage))?);
    std::fs::create_dir_all(&out)?;
    let reps: u32 = std::env::var("ROLLCALL_DECODE_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    for (i, file) in args.enumerate() {
        let bytes = std::fs::read(&file)?;
        let mut best = f64::INFINITY;
        let mut result = None;
        for _ in 0..reps {
            let start = Instant::now();
            let r = decode_with(&bytes, &Limits::default(), decoder);
            best = best.min(start.elapsed().as_secs_f64() * 1e3);
            result = Some(r);
        }
        match result {
            Some(Ok(img)) => {
                std::fs::write(out.join(format!("{i}.rgb")), &img.data)?;
                println!("{i}\t{}\t{}\t{best:.2}\t{file}", img.width, img.height);
            }
            Some(Err(e)) => println!("{i}\terror\t{e}\t\t{file}"),
            None => {}
        }
    }
    Ok(())
}
