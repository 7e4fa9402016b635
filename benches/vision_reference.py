#!/usr/bin/env python3
"""Time the reference pipeline stages (dlib through face_recognition) on the same input as
`cargo bench --bench vision`: 5-point landmarks, the 150x150 face chip, and the ResNet
embedding at batch 1 and 40.

Runs in a throwaway venv under .cache/bench-venv-dlib (dlib-bin and face_recognition from PyPI,
face_recognition installed with --no-deps; its model package is replaced by a two-line shim
pointing at the model files scripts/setup fetched). Prints one JSON object: milliseconds per
call for each stage, best of several repeats.

Usage: python3 benches/vision_reference.py [--threads 1]   (normally via benches/vision_compare.sh)
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ROLLCALL_CACHE_DIR", ROOT / ".cache"))
VENV = CACHE / "bench-venv-dlib"
PINS = ["dlib-bin==20.0.1.post1", "numpy==2.4.6", "pillow==13.0.0"]
SHIM = '''from pathlib import Path
_M = Path({models!r})
# The 68-point model is not fetched; face_recognition loads one at import, so give it the 5-point file.
def pose_predictor_model_location(): return str(_M / "shape_predictor_5_face_landmarks.dat")
def pose_predictor_five_point_model_location(): return str(_M / "shape_predictor_5_face_landmarks.dat")
def face_recognition_model_location(): return str(_M / "dlib_face_recognition_resnet_model_v1.dat")
def cnn_face_detector_model_location(): return str(_M / "mmod_human_face_detector.dat")
'''


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    stamp = VENV / ".ready"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(pip + PINS, check=True)
        subprocess.run(pip + ["--no-deps", "face_recognition==1.3.0"], check=True)
        site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        shim = Path(site) / "face_recognition_models"
        shim.mkdir(exist_ok=True)
        (shim / "__init__.py").write_text(SHIM.format(models=str(CACHE / "models" / "dlib")))
        stamp.write_text("ok\n")
    return py


def best_ms(fn, repeats: int, inner: int) -> float:
    fn()  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t) * 1000.0 / inner)
    return best


def measure(threads: int) -> dict:
    import dlib
    import face_recognition
    import face_recognition.api as api

    image = face_recognition.load_image_file(str(CACHE / "testdata" / "face_recognition" / "obama.jpg"))
    # The CNN box of obama.jpg from the golden data (dlib inclusive l, t, r, b).
    rect = dlib.rectangle(354, 135, 599, 379)
    shape = api.pose_predictor_5_point(image, rect)
    chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
    enc = api.face_encoder
    out = {
        "dlib_version": dlib.__version__,
        "threads": threads,
        "landmarks_ms": best_ms(lambda: api.pose_predictor_5_point(image, rect), 5, 200),
        "chip_ms": best_ms(lambda: dlib.get_face_chip(image, shape, size=150, padding=0.25), 5, 100),
        "embed_b1_ms_per_face": best_ms(lambda: enc.compute_face_descriptor(chip), 3, 5),
    }
    batch = [chip] * 40
    out["embed_b40_ms_per_face"] = best_ms(lambda: enc.compute_face_descriptor(batch), 2, 1) / 40
    out["face_encodings_ms"] = best_ms(
        lambda: face_recognition.face_encodings(image, [(135, 599, 379, 354)], num_jitters=1, model="small"), 3, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.inside:
        py = ensure_venv()
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
        sys.exit(subprocess.run([str(py), __file__, "--inside", "--threads", str(args.threads)], env=env).returncode)
    print(json.dumps(measure(args.threads), indent=2))


if __name__ == "__main__":
    main()
