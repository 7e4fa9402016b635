#!/usr/bin/env python3
"""Python baselines for the matching benchmark (see benches/README.md).

Runs the same sizes as `cargo bench --bench matching` (group `search`): Q queries (1 and 40)
against N gallery embeddings (1e3 .. 1e6), 128-d float32 random directions scaled to norm 1.4,
fixed seeds, with

  per-query  face_recognition's face_distance for each face: np.linalg.norm(g - q, axis=1)
  sgemm      the batched form |q|^2 + |g|^2 - 2 q.g with precomputed gallery norms (one sgemm),
             then clamp and sqrt, in place
  faiss      faiss.IndexFlatL2 search for the 5 nearest

all with the same thread count (--threads, default 2), and prints milliseconds per batch. It also
measures the machine: a large sgemm (FLOP/s) and a sgemv over the 1e6 gallery (one memory
pass).

Creates its own virtualenv under .cache/bench-venv (pinned numpy, faiss-cpu, threadpoolctl from
PyPI) and re-runs itself there. Run it with OpenBLAS's kernel pins removed, in this command only:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/matching_baseline.py --threads 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cache" / "bench-venv"
PINS = ["numpy==2.4.6", "faiss-cpu==1.15.1", "threadpoolctl==3.8.0"]
DIM = 128
SIZES = [1_000, 10_000, 100_000, 1_000_000]
QUERIES = [1, 40]
K = 5


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def bootstrap(args: argparse.Namespace) -> None:
    """Create the venv if needed and re-execute this script inside it, threads pinned."""
    python = VENV / "bin" / "python"
    marker = VENV / "pins.txt"
    if not python.exists() or not marker.exists() or marker.read_text() != "\n".join(PINS):
        print(f"creating {VENV} with {' '.join(PINS)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS],
            check=True,
        )
        marker.write_text("\n".join(PINS))
    env = dict(os.environ)
    threads = str(args.threads)
    # Every BLAS/OpenMP runtime numpy or faiss may load, before they are imported.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = threads
    os.execve(str(python), [str(python), __file__, *sys.argv[1:]], env)


def timeit(fn, budget: float, max_reps: int) -> float:
    """Median time in seconds (criterion reports a central estimate too, not the best run):
    one warm-up call, then at least 3 runs, more until `budget` s or `max_reps`."""
    fn()
    times = []
    while len(times) < max_reps and (len(times) < 3 or sum(times) < budget):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="threads for BLAS, OpenMP and FAISS")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (soft)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not in_venv():
        bootstrap(args)
        return

    import numpy as np
    import faiss
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(args.threads)
    faiss.omp_set_num_threads(args.threads)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"WARNING: {var}={os.environ[var]} is set; OpenBLAS is pinned to an older kernel. "
                  "Run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`.")
    print(f"numpy {np.__version__}, faiss {faiss.__version__}, threads {args.threads}")
    for pool in threadpool_info():
        print("threadpoolctl: " + ", ".join(
            f"{key}={pool.get(key)}" for key in ("user_api", "internal_api", "version", "architecture", "num_threads")
        ))

    def unit(rows: int, seed: int) -> "np.ndarray":
        x = np.random.default_rng(seed).standard_normal((rows, DIM), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x *= np.float32(1.4)
        return x

    results = {"threads": args.threads, "rows": []}
    # The machine: FLOP/s of a large sgemm, and a sgemv over a 512 MB matrix (one pass).
    a = unit(2048, 7).repeat(16, axis=1)  # 2048 x 2048
    t = timeit(lambda: a @ a, args.budget, 20)
    results["sgemm_gflops"] = 2 * 2048**3 / t / 1e9

    # numpy first, FAISS after: FAISS's OpenMP threads keep spinning for a while after each
    # search, and OpenBLAS's threads do the same, so interleaving them measures their fight.
    rows = {}
    for n in SIZES:
        g = unit(n, 1)
        gn = np.einsum("ij,ij->i", g, g)
        if n == SIZES[-1]:
            q1 = unit(1, 2)[0]
            t = timeit(lambda: g @ q1, args.budget, 20)
            results["sgemv_gb_per_s"] = g.nbytes / t / 1e9
        for nq in QUERIES:
            qs = unit(nq, 2)

            def per_query():
                return [np.linalg.norm(g - q, axis=1) for q in qs]

            def sgemm():
                d = qs @ g.T
                d *= np.float32(-2.0)
                d += gn
                d += np.einsum("ij,ij->i", qs, qs)[:, None]
                np.maximum(d, 0, out=d)
                np.sqrt(d, out=d)
                return d

            # The per-query loop takes seconds per batch at N = 1e6: three runs only.
            loop_reps = 3 if n * nq >= 10_000_000 else 50
            rows[(n, nq)] = {
                "n": n,
                "q": nq,
                "per_query_ms": timeit(per_query, args.budget, loop_reps) * 1e3,
                "sgemm_ms": timeit(sgemm, args.budget, 200) * 1e3,
            }
        del g, gn
    for n in SIZES:
        g = unit(n, 1)
        index = faiss.IndexFlatL2(DIM)
        index.add(g)
        for nq in QUERIES:
            qs = unit(nq, 2)
            rows[(n, nq)]["faiss_ms"] = timeit(lambda: index.search(qs, K), args.budget, 200) * 1e3
        del g, index

    print(f"\n{'N':>9} {'Q':>3} {'per-query':>11} {'sgemm':>9} {'faiss':>9}   (ms per batch, median)")
    for row in rows.values():
        results["rows"].append(row)
        print(f"{row['n']:>9} {row['q']:>3} {row['per_query_ms']:>11.3f} {row['sgemm_ms']:>9.3f} {row['faiss_ms']:>9.3f}")
    print(f"\nlarge sgemm (2048^3): {results['sgemm_gflops']:.0f} GFLOP/s; "
          f"sgemv over the 1e6 x 128 gallery (512 MB): {results['sgemv_gb_per_s']:.1f} GB/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
