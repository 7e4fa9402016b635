#!/usr/bin/env python3
"""Pixel parity of rollcall's JPEG decoders with PIL's Image.open(f).convert('RGB').

usage: jpeg_parity.py DECODE_DUMP_BINARY SET=GLOB... (globs may use **)
Needs pillow and numpy. The binary is target/release/examples/decode_dump. rollcall applies
the EXIF orientation, so PIL's decode is transposed the same way before comparing.
"""
import glob
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageOps


def pil_rgb(path):
    with Image.open(path) as im:
        fmt = im.format
        rgb = ImageOps.exif_transpose(im.convert("RGB"))  # orientation is on the source im
        if rgb is None:
            rgb = im.convert("RGB")
    return fmt, np.asarray(rgb)


def run(binary, decoder, files, out):
    lines = subprocess.run([binary, decoder, out, *files], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    res = {}
    for line in lines:
        i, w, h, ms, _ = line.split("\t", 4)
        res[int(i)] = None if w == "error" else (int(w), int(h), float(ms))
    return res


def main():
    binary, sets = sys.argv[1], sys.argv[2:]
    print("| set | decoder | images | identical | max abs diff | differing values | errors |")
    print("|---|---|---|---|---|---|---|")
    for spec in sets:
        name, pattern = spec.split("=", 1)
        files = sorted(glob.glob(pattern, recursive=True))
        refs = [pil_rgb(f) for f in files]
        jpegs = [i for i, (fmt, _) in enumerate(refs) if fmt == "JPEG"]
        skipped = len(files) - len(jpegs)
        for decoder in ("zune", "turbo"):
            with tempfile.TemporaryDirectory() as out:
                res = run(binary, decoder, [files[i] for i in jpegs], out)
                same = errors = 0
                maxdiff = 0
                ndiff = ntotal = 0
                for k, i in enumerate(jpegs):
                    ref = refs[i][1]
                    if res.get(k) is None:
                        errors += 1
                        continue
                    w, h, _ = res[k]
                    got = np.fromfile(f"{out}/{k}.rgb", dtype=np.uint8)
                    if (h, w, 3) != ref.shape:
                        errors += 1
                        print(f"  size mismatch {files[i]}: {(h, w)} vs {ref.shape}", file=sys.stderr)
                        continue
                    d = np.abs(got.reshape(h, w, 3).astype(np.int16) - ref.astype(np.int16))
                    same += int(not d.any())
                    maxdiff = max(maxdiff, int(d.max()))
                    ndiff += int(np.count_nonzero(d))
                    ntotal += d.size
            frac = ndiff / ntotal if ntotal else 0.0
            note = f" ({skipped} non-JPEG skipped)" if skipped else ""
            print(f"| {name}{note} | {decoder} | {len(jpegs)} | {same} | {maxdiff} | "
                  f"{frac:.4%} | {errors} |", flush=True)


if __name__ == "__main__":
    main()
