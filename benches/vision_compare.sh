#!/usr/bin/env bash
# One run, two pipelines: time dlib (through face_recognition, benches/vision_reference.py) and
# rollcall (criterion bench `vision`) on the same photo and box, then print per-face times and
# ratios. rollcall's ResNet uses ROLLCALL_BENCH_THREADS intra-op threads (default 2: both cores);
# dlib's CPU build runs on one core whatever it is given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
ref=$(python3 benches/vision_reference.py)
cargo bench --locked --bench vision -- --noplot >&2
python3 - "$ref" <<'PY'
import json, sys
from pathlib import Path
ref = json.loads(sys.argv[1])
def ms(name, per):
    est = json.loads(Path(f"target/criterion/vision/{name}/new/estimates.json").read_text())
    return est["median"]["point_estimate"] / 1e6 / per
rows = [
    ("landmarks (1 face)", ref["landmarks_ms"], ms("landmarks", 1)),
    ("chip (1 face)", ref["chip_ms"], ms("chip", 1)),
    ("embed, batch 1 (per face)", ref["embed_b1_ms_per_face"], ms("embed_b1", 1)),
    ("embed, batch 40 (per face)", ref["embed_b40_ms_per_face"], ms("embed_b40", 40)),
    ("box -> embedding, batch 40 (per face)", ref["face_encodings_ms"], ms("describe_b40", 40)),
]
print(f"dlib {ref['dlib_version']} via face_recognition 1.3.0 vs rollcall, ms per face (median)")
print("| stage | dlib | rollcall | speed-up |")
print("|---|---|---|---|")
for name, d, r in rows:
    print(f"| {name} | {d:.3f} | {r:.3f} | {d / r:.1f}x |")
print("(dlib's last row is face_recognition.face_encodings for one box: landmarks + chip + embedding)")
PY
