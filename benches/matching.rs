//! Criterion benchmarks of the matching engine: batch search over synthetic galleries and the
//! one-to-one assignment. See `benches/README.md` for how to run them next to the Python baselines.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollcall::matching::{
    Candidate, DIM, Gallery, Isa, SearchOptions, assign, detected_isa, search_with,
};

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// Largest gallery for the one-shot smoke run that `cargo test --all-targets` makes of this
/// target (without `--bench`): a 1e6 gallery built and searched unoptimised costs CI a minute.
const SMOKE_MAX: usize = 10_000;

/// `cargo bench` passes `--bench`; `cargo test` does not.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}
const QUERIES: [usize; 2] = [1, 40];
/// Nearest students kept per face, as the review screen shows them.
const REVIEW_K: usize = 5;

/// A random direction scaled to norm 1.4, the size of dlib's embeddings.
fn face(rng: &mut StdRng) -> [f32; DIM] {
    let v: [f32; DIM] = std::array::from_fn(|_| rng.random_range(-1.0f32..1.0));
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.map(|x| x / n * 1.4)
}

/// `n` embeddings, three per student.
fn gallery(n: usize, seed: u64) -> Gallery<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    Gallery::from_embeddings((0..n).map(|i| ((i / 3) as u32, face(&mut rng))))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn queries(q: usize, seed: u64) -> Vec<[f32; DIM]> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..q).map(|_| face(&mut rng)).collect()
}

/// What `match_faces` asks for a photo of `faces` faces: the 5 nearest students for review,
/// and up to `faces` students within the 0.60 threshold for the assignment.
fn options(faces: usize, isa: Isa) -> SearchOptions {
    SearchOptions {
        within: 0.6,
        within_k: faces,
        isa,
        ..SearchOptions::nearest(REVIEW_K)
    }
}

fn bench_search(c: &mut Criterion) {
    eprintln!(
        "matching bench: kernel {:?}, {} rayon threads",
        detected_isa(),
        rayon::current_num_threads()
    );
    let mut group = c.benchmark_group("search");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let max = if measuring() { usize::MAX } else { SMOKE_MAX };
    for n in SIZES.into_iter().filter(|&n| n <= max) {
        let g = gallery(n, 1);
        for q in QUERIES {
            let qs = queries(q, 2);
            group.throughput(Throughput::Elements((q * n) as u64));
            group.bench_function(BenchmarkId::new(format!("q{q}"), format!("n{n}")), |b| {
                b.iter(|| search_with(black_box(&g), black_box(&qs), &options(q, Isa::Avx512)));
            });
        }
    }
    group.finish();

    // The same search with the kernel limited to narrower instruction sets.
    let mut group = c.benchmark_group("search_isa");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let n = if measuring() { 100_000 } else { SMOKE_MAX };
    let g = gallery(n, 1);
    let qs = queries(40, 2);
    group.throughput(Throughput::Elements((40 * n) as u64));
    for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
        if isa > detected_isa() {
            continue;
        }
        group.bench_function(
            BenchmarkId::new(format!("{isa:?}"), format!("q40/n{n}")),
            |b| {
                b.iter(|| search_with(black_box(&g), black_box(&qs), &options(40, isa)));
            },
        );
    }
    group.finish();
}

/// `faces x students` dense candidate lists with distances uniform in [0.25, 0.75]: about 70%
/// of the pairs are under the 0.60 threshold, far denser than a real photo.
fn candidate_lists(faces: usize, students: u32, seed: u64) -> Vec<Vec<Candidate>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..faces)
        .map(|_| {
            (0..students)
                .map(|student| Candidate {
                    student,
                    distance: rng.random_range(0.25f32..0.75),
                })
                .collect()
        })
        .collect()
}

fn bench_assign(c: &mut Criterion) {
    let mut group = c.benchmark_group("assign");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [40usize, 200] {
        let lists = candidate_lists(n, n as u32, 3);
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("{n}x{n}")), |b| {
            b.iter(|| assign(black_box(&lists), 0.6));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_search, bench_assign);
criterion_main!(benches);
