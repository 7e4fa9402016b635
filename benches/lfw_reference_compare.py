#!/usr/bin/env python3
"""Compare `rollcall faces IMAGE --upsample N` with the per-image results of
benches/lfw_reference.py --out (same nearest-centre selection), on a sample of images.

Usage: python3 benches/lfw_reference_compare.py REFERENCE.json [--rollcall target/release/rollcall]
                                                [--sample 50] [--upsample 1]
Prints one line per image and a summary: boxes identical or not, max |landmark| difference,
max embedding L2 difference (only images where both sides found a face).
"""
import argparse
import json
import math
import subprocess
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("reference")
    ap.add_argument("--rollcall", default=str(Path(__file__).resolve().parent.parent / "target/release/rollcall"))
    ap.add_argument("--sample", type=int, default=50, help="every k-th image so that about this many are used")
    ap.add_argument("--upsample", default=None, help="default: the reference's")
    args = ap.parse_args()
    ref = json.loads(Path(args.reference).read_text())
    upsample = str(args.upsample if args.upsample is not None else ref["upsample"])
    images = ref["images"]
    step = max(1, len(images) // args.sample)
    sample = images[::step][: args.sample]
    root = Path(ref["images_dir"])
    n_same_box = n_cmp = n_skip = 0
    max_emb = max_lm = 0.0
    worst = None
    for im in sample:
        out = subprocess.run([args.rollcall, "faces", str(root / im["path"]), "--upsample", upsample],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        w, h = r["width"], r["height"]
        faces = r["faces"]
        if not faces or im["fallback"]:
            n_skip += 1
            print(f"{im['path']}: skipped (rollcall faces: {len(faces)}, dlib fallback: {im['fallback']})")
            continue
        f = min(faces, key=lambda f: math.hypot((f["box"][0] + f["box"][2]) / 2 - w / 2,
                                                (f["box"][1] + f["box"][3]) / 2 - h / 2))
        same_box = list(f["box"]) == list(im["rect"])
        n_same_box += same_box
        n_cmp += 1
        emb = math.sqrt(sum((a - b) ** 2 for a, b in zip(f["embedding"], im["descriptor"])))
        lm = max(abs(a - b) for p, q in zip(f["landmarks"], im["landmarks"]) for a, b in zip(p, q))
        if emb > max_emb:
            max_emb, worst = emb, im["path"]
        max_lm = max(max_lm, lm)
        print(f"{im['path']}: faces rollcall {len(faces)} dlib {im['detections']}, box {f['box']} vs {im['rect']}"
              f" {'same' if same_box else 'DIFFERENT'}, landmarks max |d| {lm:.3g}, embedding L2 {emb:.3g}")
    print(f"compared {n_cmp} images ({n_skip} skipped): boxes identical in {n_same_box} of {n_cmp}, "
          f"max landmark |d| {max_lm:.3g} px, max embedding L2 difference {max_emb:.3g} ({worst})")


if __name__ == "__main__":
    main()
