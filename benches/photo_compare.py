#!/usr/bin/env python3
"""Whole-photo benchmark: face_recognition (dlib) and rollcall on the same photos, in one run.

For each photo, bytes -> face boxes -> 128-d embeddings, as a user of each would run it:
  * face_recognition 1.3.0 on dlib-bin (benches/photo_reference.py in .cache/bench-venv-dlib):
    load_image_file, face_locations(upsample 1, model 'hog' and 'cnn'), face_encodings
    (5-point 'small' landmarks, num_jitters=1);
  * rollcall: `target/release/rollcall faces IMAGE --repeat N [--upsample ...]`, which prints
    {"width","height","faces":[{"box","score","landmarks","embedding"}],"load_ms","ms":[...]}.
Every measurement runs in its own process; its peak RSS comes from that process's rusage
(os.wait4, the per-child form of getrusage(RUSAGE_CHILDREN)), so it includes model loading.
Times are medians over the repeats (first repeat included); model loading is reported apart.

Prints a markdown table with speed-ups and peak RSS, the faces found by each pipeline, and the
accuracy check: for faces matched by box IoU >= 0.5, the largest L2 distance between rollcall's
and face_recognition cnn's embeddings. Until rollcall has the `faces` command, its columns
read n/a and the reference half still runs.

Python 3 standard library only (the reference venv is created on first use by
benches/vision_reference.py's ensure_venv). Usage: python3 benches/photo_compare.py [--help]
"""
import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no benches/__pycache__ from the import below
from vision_reference import CACHE, ensure_venv  # noqa: E402  (stdlib-only module)

REF = HERE / "photo_reference.py"
PHOTOS = CACHE / "bench-photos"


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def run_measured(cmd, timeout_s: float, mem_limit_gib: float = 0.0, cwd=None) -> dict:
    """Run cmd in its own session; return rc, stdout, stderr, wall time and peak RSS (MiB)."""
    def limit():
        if mem_limit_gib > 0:
            import resource
            n = int(mem_limit_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (n, n))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, start_new_session=True,
                             preexec_fn=limit if mem_limit_gib > 0 else None)
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t > timeout_s:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting
        wall = time.monotonic() - t
        out.seek(0)
        err.seek(0)
        return {"rc": p.returncode, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace"), "wall_s": wall,
                "timed_out": timed_out, "rss_mib": ru.ru_maxrss / 1024.0,
                "cpu_s": ru.ru_utime + ru.ru_stime}


def failure(r: dict, timeout_s: float, mem_limit_gib: float) -> str:
    if r["timed_out"]:
        return f"timeout (>{timeout_s:.0f} s)"
    e = r["stderr"]
    if "MemoryError" in e or "bad_alloc" in e or r["rc"] == -signal.SIGKILL:
        return f"out of memory (limit {mem_limit_gib:g} GiB)" if mem_limit_gib > 0 else "out of memory"
    lines = [ln.strip() for ln in e.strip().splitlines() if ln.strip()]
    lines = [ln for ln in lines if ln.lower().startswith("error")][:1] or lines[-1:]  # clap / Python
    return f"error rc={r['rc']}: {lines[0][:160] if lines else 'no stderr'}"


def reference(py, photo, model, upsample, a) -> dict:
    repeats = 1 if (photo["name"] == "phone" and model == "cnn" and upsample >= 1) else a.repeats
    cmd = [str(py), str(REF), photo["path"], "--model", model, "--upsample", str(upsample),
           "--repeats", str(repeats), "--budget-s", str(a.budget_s)]
    log(f"  face_recognition {model} upsample {upsample} on {photo['name']} (repeats <= {repeats}) ...")
    r = run_measured(cmd, a.timeout, a.mem_limit_gib)
    res = {"model": model, "upsample": upsample, "rss_mib": r["rss_mib"], "wall_s": r["wall_s"],
           "cpu_s": r["cpu_s"]}
    if r["rc"] == 0 and not r["timed_out"]:
        try:
            res.update(json.loads(r["stdout"]))
            log(f"    {res['faces']} faces, median {res['ms_median']:.0f} ms over {len(res['ms'])}, "
                f"load {res['load_ms']:.0f} ms, peak RSS {r['rss_mib']:.0f} MiB")
            return res
        except json.JSONDecodeError:
            pass
    res["error"] = failure(r, a.timeout, a.mem_limit_gib)
    log(f"    {res['error']} (after {r['wall_s']:.0f} s, peak RSS {r['rss_mib']:.0f} MiB)")
    return res


def rollcall(binary: Path, photo, a, portrait: bool = False) -> dict:
    cmd = [str(binary), "faces", photo["path"], "--repeat", str(a.repeats)]
    if a.rollcall_upsample:
        cmd += ["--upsample", a.rollcall_upsample]
    if portrait:
        cmd += ["--portrait"]
    log(f"  rollcall{' --portrait' if portrait else ''} on {photo['name']} ...")
    r = run_measured(cmd, a.timeout, 0.0, cwd=ROOT)
    res = {"rss_mib": r["rss_mib"], "wall_s": r["wall_s"], "cpu_s": r["cpu_s"]}
    if r["rc"] == 0 and not r["timed_out"]:
        try:
            d = json.loads(r["stdout"])
            res.update(faces=len(d["faces"]), ms=d["ms"], ms_median=statistics.median(d["ms"]),
                       ms_min=min(d["ms"]), load_ms=d["load_ms"],
                       boxes=[f["box"] for f in d["faces"]],
                       embeddings=[f["embedding"] for f in d["faces"]])
            if [d["width"], d["height"]] != [photo["width"], photo["height"]]:
                log(f"    warning: rollcall read {d['width']}x{d['height']}, Pillow "
                    f"{photo['width']}x{photo['height']}")
            log(f"    {res['faces']} faces, median {res['ms_median']:.1f} ms over {len(d['ms'])}, "
                f"load {res['load_ms']:.0f} ms, peak RSS {r['rss_mib']:.0f} MiB")
            return res
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            res["error"] = f"unexpected output ({e.__class__.__name__}: {e})"
    else:
        res["error"] = failure(r, a.timeout, 0.0)
    log(f"    n/a: {res['error']}")
    return res


def iou(p, q) -> float:
    iw = min(p[2], q[2]) - max(p[0], q[0])
    ih = min(p[3], q[3]) - max(p[1], q[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def accuracy(rc: dict, ref: dict):
    """Greedy one-to-one match by IoU >= 0.5; returns (matched, max L2) or None."""
    if "error" in rc or "error" in ref or not rc["faces"] or not ref["faces"]:
        return None
    pairs = sorted(((iou(b, c), i, j) for i, b in enumerate(rc["boxes"])
                    for j, c in enumerate(ref["boxes"])), reverse=True)
    used_i, used_j, dists = set(), set(), []
    for v, i, j in pairs:
        if v < 0.5:
            break
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        dists.append(math.dist(rc["embeddings"][i], ref["embeddings"][j]))
    return len(dists), (max(dists) if dists else None)


def fmt_ms(r):
    if r is None:
        return "-"
    if "error" in r:
        return "timeout" if r["error"].startswith("timeout") else ("oom" if "memory" in r["error"] else "n/a")
    v = r["ms_median"]
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def fmt_faces(r):
    return "-" if r is None else ("n/a" if "error" in r else str(r["faces"]))


def fmt_rss(r):
    if r is None:
        return "-"
    if "error" in r:  # a killed or failed process: its peak so far is a lower bound
        return f">{r['rss_mib']:.0f}" if r["error"].startswith(("timeout", "out of memory")) else "-"
    return f"{r['rss_mib']:.0f}"


def ratio(ref, rc):
    if ref is None or rc is None or "error" in ref or "error" in rc or rc["ms_median"] <= 0:
        return "n/a"
    return f"{ref['ms_median'] / rc['ms_median']:.1f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-build", action="store_true", help="skip `cargo build --release --locked`")
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "rollcall"))
    ap.add_argument("--repeats", type=int, default=5, help="runs per measurement (default 5)")
    ap.add_argument("--budget-s", type=float, default=30.0,
                    help="face_recognition starts no new repeat after this many seconds (default 30)")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds per measurement process before it is killed (default 900)")
    ap.add_argument("--mem-limit-gib", type=float, default=16.0,
                    help="address-space limit of each face_recognition process (default 16; 0 = none)")
    ap.add_argument("--no-phone-cnn-u0", action="store_true",
                    help="skip the extra row: face_recognition cnn with upsample 0 on the phone photo")
    ap.add_argument("--rollcall-upsample", choices=["auto", "0", "1", "2"],
                    help="pass --upsample to rollcall (default: the binary's own default)")
    ap.add_argument("--only", help="comma-separated photo names (portrait,webcam,group,phone)")
    ap.add_argument("--skip-reference", action="store_true", help="rollcall only")
    ap.add_argument("--json", default=str(PHOTOS / "results.json"), help="raw results file")
    a = ap.parse_args()

    t_start = time.monotonic()
    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")

    binary = Path(a.bin)
    build_note = ""
    if not a.no_build:
        log("cargo build --release --locked ...")
        b = subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT)
        if b.returncode != 0:
            build_note = "cargo build failed"
            log("  cargo build failed: rollcall columns will be n/a")

    py = ensure_venv()
    made = subprocess.run([str(py), str(REF), "--make-photos", str(PHOTOS),
                           "--testdata", str(CACHE / "testdata" / "face_recognition")],
                          check=True, capture_output=True, text=True)
    photos = json.loads(made.stdout)
    if a.only:
        keep = set(a.only.split(","))
        photos = [p for p in photos if p["name"] in keep]
    for p in photos:
        if "skipped" in p:
            log(f"skipping {p['name']}: {p['skipped']}")
    photos = [p for p in photos if "skipped" not in p]
    dlib_v = subprocess.run([str(py), "-c", "import dlib; print(dlib.__version__)"],
                            capture_output=True, text=True).stdout.strip()

    results = []
    for p in photos:
        log(f"{p['name']}: {p['path']} ({p['width']}x{p['height']})")
        row = {"photo": p}
        row["rollcall"] = rollcall(binary, p, a) if binary.exists() else \
            {"error": build_note or f"{binary} not found"}
        # Enrolment photos and live webcam frames are analysed with the portrait profile
        # (faces >= 80 px and >= 10% of the longer side): measure it where it applies.
        if p["name"] in ("portrait", "webcam") and binary.exists():
            row["rollcall_portrait"] = rollcall(binary, p, a, portrait=True)
        if not a.skip_reference:
            row["hog"] = reference(py, p, "hog", 1, a)
            row["cnn"] = reference(py, p, "cnn", 1, a)
            if p["name"] == "phone" and not a.no_phone_cnn_u0:
                row["cnn_u0"] = reference(py, p, "cnn", 0, a)
        results.append(row)

    total_s = time.monotonic() - t_start
    load_end = os.getloadavg()
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({"started": started, "total_s": total_s, "results": results}))

    rc_errors = {r["rollcall"]["error"] for r in results if "error" in r["rollcall"]}
    print(f"Whole photo, bytes -> boxes -> 128-d embeddings. face_recognition 1.3.0 on dlib {dlib_v} "
          f"(upsample 1, 5-point landmarks, num_jitters=1) vs rollcall "
          f"({'--upsample ' + a.rollcall_upsample if a.rollcall_upsample else 'default upsample'}).")
    print(f"Started {started} on {platform.node()} ({os.cpu_count()} CPUs); load average "
          f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end; whole run {total_s:.0f} s.")
    print("Milliseconds per photo (median of the repeats, first included; model loading excluded);"
          " speed-up = face_recognition ms / rollcall ms; peak RSS of each process in MiB"
          " (model loading included).\n")
    print("| photo | size | faces hog | faces cnn | faces rollcall | hog ms | cnn ms | rollcall ms"
          " | vs hog | vs cnn | RSS hog | RSS cnn | RSS rollcall |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in results:
        p, rc, hog, cnn = r["photo"], r["rollcall"], r.get("hog"), r.get("cnn")
        print(f"| {p['name']} | {p['width']}x{p['height']} | {fmt_faces(hog)} | {fmt_faces(cnn)} | "
              f"{fmt_faces(rc)} | {fmt_ms(hog)} | {fmt_ms(cnn)} | {fmt_ms(rc)} | {ratio(hog, rc)} | "
              f"{ratio(cnn, rc)} | {fmt_rss(hog)} | {fmt_rss(cnn)} | {fmt_rss(rc)} |")
        if "rollcall_portrait" in r:
            rp = r["rollcall_portrait"]
            print(f"| {p['name']}, rollcall --portrait | {p['width']}x{p['height']} | {fmt_faces(hog)} | "
                  f"{fmt_faces(cnn)} | {fmt_faces(rp)} | {fmt_ms(hog)} | {fmt_ms(cnn)} | {fmt_ms(rp)} | "
                  f"{ratio(hog, rp)} | {ratio(cnn, rp)} | {fmt_rss(hog)} | {fmt_rss(cnn)} | {fmt_rss(rp)} |")
        if "cnn_u0" in r:
            u0 = r["cnn_u0"]
            print(f"| {p['name']}, cnn upsample 0 | {p['width']}x{p['height']} | - | {fmt_faces(u0)} | "
                  f"{fmt_faces(rc)} | - | {fmt_ms(u0)} | {fmt_ms(rc)} | - | {ratio(u0, rc)} | - | "
                  f"{fmt_rss(u0)} | {fmt_rss(rc)} |")

    print("\nRuns and model loading (ms; repeats = timed runs; min in parentheses; median CPU ms ="
          " the face_recognition process's CPU time per run). The process's wall and CPU seconds"
          " cover loading and all repeats; CPU well under wall (for a single-threaded dlib) means"
          " the process waited for a core:\n")
    print("| photo | pipeline | repeats | median (min) ms | median CPU ms | load ms | process wall s"
          " | process CPU s |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for r in results:
        for key, label in [("hog", "face_recognition hog"), ("cnn", "face_recognition cnn"),
                           ("cnn_u0", "face_recognition cnn, upsample 0"), ("rollcall", "rollcall"),
                           ("rollcall_portrait", "rollcall --portrait")]:
            x = r.get(key)
            if x is None:
                continue
            if "error" in x:
                print(f"| {r['photo']['name']} | {label} | - | {x['error']} | - | - | "
                      f"{x.get('wall_s', 0):.1f} | {x.get('cpu_s', 0):.1f} |")
            else:
                c = f"{x['cpu_ms_median']:.1f}" if "cpu_ms_median" in x else "-"
                print(f"| {r['photo']['name']} | {label} | {len(x['ms'])} | {x['ms_median']:.1f} "
                      f"({x['ms_min']:.1f}) | {c} | {x['load_ms']:.0f} | {x['wall_s']:.1f} | {x['cpu_s']:.1f} |")

    print("\nAccuracy check: rollcall's faces matched to face_recognition cnn's (upsample 1, or 0 "
          "where 1 did not finish) by box IoU >= 0.5; max L2 distance between matched embeddings:\n")
    print("| photo | faces rollcall / cnn | matched | max L2 |")
    print("|---|--:|--:|--:|")
    for r in results:
        ref = r.get("cnn")
        if ref is not None and "error" in ref and "cnn_u0" in r:
            ref = r["cnn_u0"]
        for key, suffix in [("rollcall", ""), ("rollcall_portrait", ", --portrait")]:
            if key not in r:
                continue
            acc = accuracy(r[key], ref) if ref is not None else None
            m, d = ("n/a", "n/a") if acc is None else (str(acc[0]), "-" if acc[1] is None else f"{acc[1]:.4f}")
            print(f"| {r['photo']['name']}{suffix} | {fmt_faces(r[key])} / {fmt_faces(ref)} | {m} | {d} |")
    if rc_errors:
        print(f"\nrollcall n/a: {'; '.join(sorted(rc_errors))}")
    notes = [f"{r['photo']['name']}: {r['photo']['note']}" for r in results]
    print("\nPhotos: " + "; ".join(notes) + f". Raw results: {a.json}")


if __name__ == "__main__":
    main()
