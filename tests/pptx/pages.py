#!/usr/bin/env python3
"""For each PNG page given, print the share of pixels below the title band that are not
white (0..1): a blank slide body prints 0. Used to check that LibreOffice renders no
slide blank."""
import sys

from PIL import Image

for path in sys.argv[1:]:
    im = Image.open(path).convert("L")
    w, h = im.size
    body = im.crop((0, int(h * 0.17), w, h))
    px = body.getdata()
    ink = sum(1 for p in px if p < 235)
    print(f"{path} {ink / max(1, len(px)):.5f}")
