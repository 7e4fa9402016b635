//! Criterion bench `vision`: the stages after the face box on obama.jpg (the photo the dlib
//! reference script times too): 5-point landmarks, the face chip, and the ResNet embedding at
//! batch 1 and 40. Needs `scripts/setup` (models, ONNX Runtime, test photo).
//! Run with `benches/vision_compare.sh` to get the ratios against dlib from one run.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rollcall::vision::Rect;
use rollcall::vision::chip::face_chip;
use rollcall::vision::engine::{EngineOptions, FaceDescriber};
use rollcall::vision::image::RgbImage;

/// The CNN box of obama.jpg in the golden data (dlib inclusive l, t, r, b).
const BOX: Rect = Rect::new(354, 135, 599, 379);

fn cache() -> PathBuf {
    std::env::var_os("ROLLCALL_CACHE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache"),
        PathBuf::from,
    )
}

fn bench(c: &mut Criterion) {
    let cache = cache();
    let img = RgbImage::open(&cache.join("testdata/face_recognition/obama.jpg"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let threads: usize = std::env::var("ROLLCALL_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let describer = FaceDescriber::load(
        &cache,
        EngineOptions {
            sessions: 1,
            intra_threads: threads,
            flip: false,
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let landmarks = describer
        .landmarks(&img, BOX)
        .unwrap_or_else(|e| panic!("{e:#}"));

    let mut g = c.benchmark_group("vision");
    g.throughput(Throughput::Elements(1));
    g.bench_function("landmarks", |b| {
        b.iter(|| describer.landmarks(black_box(&img), black_box(BOX)))
    });
    g.bench_function("chip", |b| {
        b.iter(|| face_chip(black_box(&img), black_box(&landmarks)))
    });
    g.sample_size(20);
    let chip = face_chip(&img, &landmarks);
    for batch in [1usize, 40] {
        let chips = vec![chip.clone(); batch];
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("embed_b{batch}"), |b| {
            b.iter(|| {
                describer
                    .embed_chips(black_box(&chips))
                    .unwrap_or_else(|e| panic!("{e:#}"))
            });
        });
    }
    let boxes = vec![BOX; 40];
    g.throughput(Throughput::Elements(40));
    g.bench_function("describe_b40", |b| {
        b.iter(|| {
            describer
                .describe(black_box(&img), black_box(&boxes))
                .unwrap_or_else(|e| panic!("{e:#}"))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
