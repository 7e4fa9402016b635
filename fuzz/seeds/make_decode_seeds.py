#!/usr/bin/env python3
"""Regenerate fuzz/seeds/decode: tiny synthetic images (gradients drawn here, no third-party
pictures) in the variants the decoders branch on. PNGs are written by hand; JPEG and WebP
need cjpeg (libjpeg-turbo-progs) and cwebp (webp) on PATH.

    python3 fuzz/seeds/make_decode_seeds.py
"""
import os
import struct
import subprocess
import tempfile
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "decode")
W, H = 13, 9


def pixel(x, y):
    return ((x * 255) // (W - 1), (y * 255) // (H - 1), ((x + y) * 20) % 256)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(name, color_type, depth, rows, extra=b"", interlace=0, width=W, height=H):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    write(name, data)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def rows_rgb():
    return [bytes(c for x in range(W) for c in pixel(x, y)) for y in range(H)]


def adam7_rows(bytes_per_pixel, px):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        xs = range(x0, W, dx)
        if not xs:
            continue
        for y in range(y0, H, dy):
            rows.append(b"".join(px(x, y) for x in xs))
    return rows


def exif_orientation(jpeg, value):
    # APP1 "Exif\0\0", big-endian TIFF header, IFD0 with one entry: Orientation (0x0112), SHORT.
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, value, 0) + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def main():
    os.makedirs(OUT, exist_ok=True)
    png("rgb8.png", 2, 8, rows_rgb())
    png("gray8.png", 0, 8, [bytes(pixel(x, y)[0] for x in range(W)) for y in range(H)])
    png("gray16.png", 0, 16, [b"".join(struct.pack(">H", pixel(x, y)[0] * 257) for x in range(W)) for y in range(H)])
    png("graya8.png", 4, 8, [bytes(c for x in range(W) for c in (pixel(x, y)[0], pixel(x, y)[1])) for y in range(H)])
    png("rgba8.png", 6, 8, [bytes(c for x in range(W) for c in (*pixel(x, y), (x * 19) % 256)) for y in range(H)])
    png("rgb16.png", 2, 16, [b"".join(struct.pack(">HHH", *(c * 257 for c in pixel(x, y))) for x in range(W)) for y in range(H)])
    plte = chunk(b"PLTE", bytes(c for i in range(4) for c in (i * 80, 255 - i * 80, 40)))
    trns = chunk(b"tRNS", bytes([0, 128, 255]))
    png("palette2.png", 3, 2, [bytes(int("".join(f"{(x + y) % 4:02b}" for x in range(xb, min(xb + 4, W))).ljust(8, "0"), 2) for xb in range(0, W, 4)) for y in range(H)], plte + trns)
    png("adam7.png", 2, 8, adam7_rows(3, lambda x, y: bytes(pixel(x, y))), interlace=1)
    # The decompression bomb: a valid header declaring 30000x30000, one row of data.
    png("bomb-30000.png", 0, 1, [b"\x00" * 4], width=30000, height=30000)

    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "in.ppm")
        with open(ppm, "wb") as f:
            f.write(b"P6 %d %d 255\n" % (W, H) + b"".join(rows_rgb()))
        pgm = os.path.join(tmp, "in.pgm")
        with open(pgm, "wb") as f:
            f.write(b"P5 %d %d 255\n" % (W, H) + bytes(pixel(x, y)[0] for y in range(H) for x in range(W)))

        def cjpeg(*args, src=ppm):
            return subprocess.run(["cjpeg", "-quality", "60", *args, src], check=True, capture_output=True).stdout

        write("baseline-420.jpg", cjpeg())
        write("baseline-444.jpg", cjpeg("-sample", "1x1"))
        write("progressive.jpg", cjpeg("-progressive"))
        write("arithmetic.jpg", cjpeg("-arithmetic"))
        write("restart.jpg", cjpeg("-restart", "1B"))
        write("gray.jpg", cjpeg(src=pgm))
        write("exif-orientation-6.jpg", exif_orientation(cjpeg(), 6))
        bomb = bytearray(cjpeg())
        sof = bomb.index(b"\xff\xc0")
        bomb[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
        write("bomb-60000.jpg", bytes(bomb))

        def cwebp(*args, src):
            out = os.path.join(tmp, "out.webp")
            subprocess.run(["cwebp", "-quiet", *args, src, "-o", out], check=True)
            with open(out, "rb") as f:
                return f.read()

        write("lossy.webp", cwebp("-q", "50", src=os.path.join(OUT, "rgb8.png")))
        write("lossless.webp", cwebp("-lossless", src=os.path.join(OUT, "rgb8.png")))
        write("alpha.webp", cwebp("-q", "50", src=os.path.join(OUT, "rgba8.png")))


if __name__ == "__main__":
    main()
