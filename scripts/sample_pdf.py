"""Writes a small valid one-page PDF: the file the 2019 and 2020 demos move between peers
(the specifications' 2012.pdf and 2067.pdf).  Usage: sample_pdf.py PATH TITLE [LINES]"""

import sys


def sample_pdf(title, lines=60):
    text = [f"BT /F1 18 Tf 72 760 Td ({title}) Tj ET"]
    for i in range(lines):  # enough lines that MSS 300 makes a few dozen segments
        text.append(f"BT /F1 9 Tf 72 {730 - 11 * i} Td (line {i + 1:02d}: cdht moves this page between peers) Tj ET")
    stream = "\n".join(text).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(sample_pdf(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 60))
