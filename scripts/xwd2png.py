#!/usr/bin/env python3
"""Convert an XWD screenshot (ZPixmap, 24/32 bits per pixel, as `xwd` writes on a
TrueColor display) to PNG, with nothing but the standard library.

    xwd2png.py IN.xwd OUT.png
"""
import struct, sys, zlib

def main():
    data = open(sys.argv[1], 'rb').read()
    h = struct.unpack('>25I', data[:100])
    header_size, _, fmt, depth, width, height = h[0], h[1], h[2], h[3], h[4], h[5]
    byte_order, bpp, bpl = h[7], h[11], h[12]
    rmask, gmask, bmask = h[14], h[15], h[16]
    ncolors = h[19]
    if fmt != 2 or bpp not in (24, 32):
        sys.exit(f'unsupported XWD: format {fmt}, {bpp} bits per pixel')
    off = header_size + ncolors * 12
    step = bpp // 8
    def shift(m):
        return (m & -m).bit_length() - 1
    rs, gs, bs = shift(rmask), shift(gmask), shift(bmask)
    rows = []
    for y in range(height):
        line = data[off + y * bpl: off + y * bpl + width * step]
        out = bytearray(b'\0')
        for x in range(width):
            px = line[x * step:(x + 1) * step]
            v = int.from_bytes(px, 'little' if byte_order == 0 else 'big')
            out += bytes(((v & rmask) >> rs, (v & gmask) >> gs, (v & bmask) >> bs))
        rows.append(bytes(out))
    def chunk(t, b):
        return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b) & 0xffffffff)
    png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
    png += chunk(b'IDAT', zlib.compress(b''.join(rows), 6)) + chunk(b'IEND', b'')
    open(sys.argv[2], 'wb').write(png)

if __name__ == '__main__':
    main()
