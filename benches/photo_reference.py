#!/usr/bin/env python3
"""The reference side of benches/photo_compare.py: what a face_recognition user does with one photo.

Runs inside .cache/bench-venv-dlib (created by benches/vision_reference.py: dlib-bin, pillow,
numpy, face_recognition 1.3.0 with --no-deps and a face_recognition_models shim). Two modes:

  measure:  photo_reference.py IMAGE --model cnn|hog [--upsample 1] [--repeats 5] [--budget-s 30]
      load_ms = `import face_recognition` (it loads every dlib model at import: HOG and MMOD
      detectors, 5-point predictor, ResNet); then, per repeat, the whole user-side pipeline
          img = face_recognition.load_image_file(path)
          locs = face_recognition.face_locations(img, number_of_times_to_upsample=U, model=M)
          encs = face_recognition.face_encodings(img, locs)   # model='small', num_jitters=1
      At most --repeats runs, but no new run starts once --budget-s seconds have been spent
      (so a slow case runs once). Prints one JSON object:
          {faces, ms_median, ms_min, ms, cpu_ms_median, load_ms, boxes: [[l,t,r,b]...],
           embeddings: [[128]...]}
      cpu_ms_median is the process's CPU time per run (dlib runs on one core here), which a
      machine shared with other work inflates far less than the wall-clock ms.
      (boxes converted from face_recognition's (top, right, bottom, left) to l, t, r, b).

  photos:   photo_reference.py --make-photos OUT_DIR --testdata DIR [--shared DIR]
      writes the benchmark photos deterministically (Pillow is pinned in the venv) and prints
      a JSON list of {name, path, note, width, height} (or {name, skipped: reason}).

Peak RSS is not measured here: photo_compare.py runs each measurement in its own process
and reads that process's rusage.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def make_photos(out: Path, testdata: Path, shared: Path) -> list:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    res = []

    # 1. portrait: obama.jpg as is (910x1137, one face).
    res.append({"name": "portrait", "path": str(testdata / "obama.jpg"),
                "note": "testdata obama.jpg as is"})

    # 2. webcam: a 640x480 frame with two faces, made from the two testdata portraits (no
    #    /work/shared needed): obama.jpg and biden.jpg, each scaled to fit a 320x480 half
    #    (LANCZOS), centred on a mid-grey background, JPEG q90.
    webcam = out / "webcam.jpg"
    if not webcam.exists():
        frame = Image.new("RGB", (640, 480), (128, 128, 128))
        for i, name in enumerate(["obama.jpg", "biden.jpg"]):
            im = Image.open(testdata / name).convert("RGB")
            s = min(320 / im.width, 480 / im.height)
            im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
            frame.paste(im, (i * 320 + (320 - im.width) // 2, (480 - im.height) // 2))
        frame.save(webcam, "JPEG", quality=90)
    res.append({"name": "webcam", "path": str(webcam),
                "note": "obama.jpg + biden.jpg side by side, each fitted to 320x480, JPEG q90"})

    group_src = shared / "dlib-faces" / "2008_002470.jpg"
    if not group_src.exists():
        why = f"{group_src} not found (needs /work/shared data)"
        res.append({"name": "group", "skipped": why})
        res.append({"name": "phone", "skipped": why})
        return res
    # 3. group: dlib's examples/faces/2008_002470.jpg as is (500x332, 6 small faces).
    res.append({"name": "group", "path": str(group_src), "note": "dlib examples/faces/2008_002470.jpg as is"})

    # 4. phone: the group photo tiled 2x2 (1000x664, 24 faces) and upscaled with LANCZOS to
    #    4032 px wide (4032x2677, factor 4.032), JPEG q90: a classroom-sized phone photo whose
    #    faces are roughly 115-225 px wide (dlib's boxes on it: HOG 129-223 px, CNN at upsample
    #    0 114-197 px; on the group photo the CNN boxes are 39-47 px, x4.032 = 157-190 px).
    phone = out / "phone.jpg"
    if not phone.exists():
        g = Image.open(group_src).convert("RGB")
        tile = Image.new("RGB", (2 * g.width, 2 * g.height))
        for x in range(2):
            for y in range(2):
                tile.paste(g, (x * g.width, y * g.height))
        h = round(tile.height * 4032 / tile.width)
        tile.resize((4032, h), Image.LANCZOS).save(phone, "JPEG", quality=90)
    res.append({"name": "phone", "path": str(phone),
                "note": "group photo tiled 2x2, LANCZOS to 4032 px wide, JPEG q90"})
    return res


def measure(path: str, model: str, upsample: int, repeats: int, budget_s: float) -> dict:
    t = time.perf_counter()
    import face_recognition
    load_ms = (time.perf_counter() - t) * 1000.0

    times, cpu, locs, encs = [], [], [], []
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        t, c = time.perf_counter(), time.process_time()
        img = face_recognition.load_image_file(path)
        locs = face_recognition.face_locations(img, number_of_times_to_upsample=upsample, model=model)
        encs = face_recognition.face_encodings(img, locs, num_jitters=1, model="small")
        times.append((time.perf_counter() - t) * 1000.0)
        cpu.append((time.process_time() - c) * 1000.0)
        if time.perf_counter() - start >= budget_s:
            break
    return {
        "faces": len(locs),
        "ms_median": statistics.median(times),
        "ms_min": min(times),
        "ms": times,
        "cpu_ms_median": statistics.median(cpu),
        "load_ms": load_ms,
        "boxes": [[l, t, r, b] for (t, r, b, l) in locs],
        "embeddings": [[float(v) for v in e] for e in encs],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("image", nargs="?")
    ap.add_argument("--model", choices=["cnn", "hog"], default="hog")
    ap.add_argument("--upsample", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=30.0)
    ap.add_argument("--make-photos", metavar="OUT_DIR")
    ap.add_argument("--testdata")
    ap.add_argument("--shared", default="/work/shared/data")
    a = ap.parse_args()
    if a.make_photos:
        from PIL import Image
        photos = make_photos(Path(a.make_photos), Path(a.testdata), Path(a.shared))
        for p in photos:
            if "path" in p:
                p["width"], p["height"] = Image.open(p["path"]).size
        print(json.dumps(photos))
    elif a.image:
        print(json.dumps(measure(a.image, a.model, a.upsample, a.repeats, a.budget_s)))
    else:
        ap.error("IMAGE or --make-photos is needed")
        sys.exit(2)


if __name__ == "__main__":
    main()
