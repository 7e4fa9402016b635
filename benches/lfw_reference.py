#!/usr/bin/env python3
"""Reference LFW figure from the real dlib, with the same protocol as `rollcall eval lfw`.

Runs in the venv of benches/vision_reference.py (.cache/bench-venv-dlib: dlib-bin 20.0.1.post1,
created on first use) and calls dlib directly:

  * each distinct image once: numpy array of PIL.Image.open(path).convert('RGB');
  * detection: dlib.cnn_face_detection_model_v1(mmod)(img, upsample) (.rect, unclipped) or
    dlib.get_frontal_face_detector()(img, upsample); the detection whose box centre is nearest
    the image centre (W/2, H/2) is kept; with none, a centred square box of side
    min(W, H) * 115 // 250 is used instead (counted as a fallback);
  * 5-point landmarks, then compute_face_descriptor(img, shape, 1) -> 128 floats;
  * Euclidean distance per pair; accuracy at 0.6 and the best threshold among the observed
    distances (scan in pair order from t = 0.6, strictly better only).

Usage:
  python3 benches/lfw_reference.py [--pairs .../pairs.txt] [--images DIR] [--detector cnn|hog]
                                   [--upsample 1] [--limit N] [--out results.json]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vision_reference import CACHE, ensure_venv  # noqa: E402

MODELS = CACHE / "models" / "dlib"
DEFAULT_PAIRS = "/work/shared/data/lfw-fold1/pairs.txt"


def read_pairs(path: Path, limit):
    """LFW View 2 pairs: header line, then `name n1 n2` (same) or `name1 n1 name2 n2`."""
    same, diff = [], []
    lines = path.read_text().splitlines()
    for line in lines[1:]:
        f = line.split()
        if not f:
            continue
        if len(f) == 3:
            same.append(((f[0], int(f[1])), (f[0], int(f[2])), True))
        elif len(f) == 4:
            diff.append(((f[0], int(f[1])), (f[2], int(f[3])), False))
        else:
            raise SystemExit(f"bad pairs line: {line!r}")
    if limit is not None:
        same, diff = same[:limit], diff[:limit]
    # Pair order = file order, restricted to the kept pairs.
    kept_same, kept_diff = iter(same), iter(diff)
    n_same, n_diff = len(same), len(diff)
    pairs, i_s, i_d = [], 0, 0
    for line in lines[1:]:
        f = line.split()
        if len(f) == 3 and i_s < n_same:
            pairs.append(next(kept_same)); i_s += 1
        elif len(f) == 4 and i_d < n_diff:
            pairs.append(next(kept_diff)); i_d += 1
    return pairs


def image_rel(name: str, n: int) -> str:
    return f"{name}/{name}_{n:04d}.jpg"


def fallback_box(w: int, h: int):
    side = min(w, h) * 115 // 250
    l, t = (w - side) // 2, (h - side) // 2
    return l, t, l + side - 1, t + side - 1


def accuracy(dists, labels, t):
    return sum((d <= t) == s for d, s in zip(dists, labels)) / len(dists)


def run(args) -> None:
    import dlib
    import numpy as np
    from PIL import Image

    pairs_path = Path(args.pairs)
    images_dir = Path(args.images) if args.images else pairs_path.parent
    pairs = read_pairs(pairs_path, args.limit)
    n_same = sum(1 for p in pairs if p[2])
    rels = []
    seen = set()
    for a, b, _ in pairs:
        for name, n in (a, b):
            r = image_rel(name, n)
            if r not in seen:
                seen.add(r)
                rels.append(r)

    if args.detector == "cnn":
        cnn = dlib.cnn_face_detection_model_v1(str(MODELS / "mmod_human_face_detector.dat"))
        detect = lambda img: [d.rect for d in cnn(img, args.upsample)]  # noqa: E731
    else:
        hog = dlib.get_frontal_face_detector()
        detect = lambda img: list(hog(img, args.upsample))  # noqa: E731
    sp = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))
    enc = dlib.face_recognition_model_v1(str(MODELS / "dlib_face_recognition_resnet_model_v1.dat"))

    start = time.perf_counter()
    results = {}
    fallbacks = 0
    for i, rel in enumerate(rels):
        img = np.asarray(Image.open(images_dir / rel).convert("RGB"))
        h, w = img.shape[:2]
        rects = detect(img)
        if rects:
            cx, cy = w / 2, h / 2
            rect = min(rects, key=lambda r: math.hypot((r.left() + r.right()) / 2 - cx,
                                                       (r.top() + r.bottom()) / 2 - cy))
            fb = False
        else:
            rect = dlib.rectangle(*fallback_box(w, h))
            fb = True
            fallbacks += 1
        shape = sp(img, rect)
        desc = list(enc.compute_face_descriptor(img, shape, 1))
        results[rel] = {
            "path": rel,
            "rect": [rect.left(), rect.top(), rect.right(), rect.bottom()],
            "fallback": fb,
            "detections": len(rects),
            "landmarks": [[p.x, p.y] for p in shape.parts()],
            "descriptor": desc,
        }
        if args.progress and (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(rels)} images, {time.perf_counter() - start:.1f} s",
                  file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start

    dists, labels = [], []
    for a, b, s in pairs:
        da = np.array(results[image_rel(*a)]["descriptor"])
        db = np.array(results[image_rel(*b)]["descriptor"])
        dists.append(float(np.linalg.norm(da - db)))
        labels.append(s)
    acc06 = accuracy(dists, labels, 0.6)
    best_t, best_acc = 0.6, acc06
    for d in dists:
        a = accuracy(dists, labels, d)
        if a > best_acc:
            best_t, best_acc = d, a

    n = len(rels)
    print(f"pairs: {len(pairs)} ({n_same} same, {len(pairs) - n_same} different), images: {n}, {elapsed:.1f} s")
    print(f"no face detected (centred box used instead): {fallbacks} of {n} images")
    print(f"best threshold on these pairs: {best_t:.3f} (accuracy {best_acc:.4f})")
    print(f"accuracy: {acc06:.4f}")
    if args.out:
        out = {
            "dlib_version": dlib.__version__,
            "detector": args.detector,
            "upsample": args.upsample,
            "pairs_file": str(pairs_path),
            "images_dir": str(images_dir),
            "limit": args.limit,
            "seconds": elapsed,
            "fallbacks": fallbacks,
            "accuracy_at_0_6": acc06,
            "best_threshold": best_t,
            "best_accuracy": best_acc,
            "pairs": [{"a": image_rel(*a), "b": image_rel(*b), "same": s, "distance": d}
                      for (a, b, s), d in zip(pairs, dists)],
            "images": [results[r] for r in rels],
        }
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default=DEFAULT_PAIRS)
    ap.add_argument("--images", default=None, help="image root (default: beside pairs.txt)")
    ap.add_argument("--detector", choices=["cnn", "hog"], default="cnn")
    ap.add_argument("--upsample", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="first N same + first N different pairs")
    ap.add_argument("--out", default=None, help="write per-image results as JSON here")
    ap.add_argument("--progress", action="store_true", help="progress on stderr every 50 images")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.inside:
        if not (MODELS / "mmod_human_face_detector.dat").exists():
            # checked before ensure_venv so that a worktree without .cache gets no stray venv
            sys.exit(f"no dlib models in {MODELS}: run scripts/setup, or set ROLLCALL_CACHE_DIR "
                     "(e.g. to the main checkout's .cache)")
        py = ensure_venv()
        cmd = [str(py), __file__, "--inside"] + sys.argv[1:]
        sys.exit(subprocess.run(cmd).returncode)
    run(args)


if __name__ == "__main__":
    main()
