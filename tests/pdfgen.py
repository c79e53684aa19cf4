"""Write small PDF files byte by byte, for hostile-input tests.

Real PDFs from ../shared/pdfs cover what publishers produce; these cover what they should
not: thousands of pages, page trees nested thousands deep or in a loop, content streams of
millions of operators or nested arrays, a page declaring a size of kilometres, a stream that
inflates a thousandfold. Each file has a correct cross-reference table, so the reader gets
as far as the structure allows.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_content(lines: Iterable[str], *, size: int = 11) -> bytes:
    """A content stream showing ``lines`` top-down in Helvetica."""
    ops = [f"BT /F1 {size} Tf {size + 3} TL 72 760 Td"]
    ops += [f"({_escape(line)}) '" for line in lines]
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


class PdfWriter:
    """Objects are added in order; ``bytes()`` lays them out with the xref table."""

    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def reserve(self) -> int:
        self.objects.append(b"")
        return len(self.objects)

    def set(self, num: int, body: bytes) -> None:
        self.objects[num - 1] = body

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def stream(self, data: bytes, *, compress: bool = False, raw_length: int | None = None) -> int:
        if compress:
            data = zlib.compress(data, 9)
        head = f"<< /Length {len(data) if raw_length is None else raw_length}"
        head += " /Filter /FlateDecode >>" if compress else " >>"
        return self.add(head.encode() + b"\nstream\n" + data + b"\nendstream")

    def bytes(self, root: int) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(self.objects, 1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(self.objects) + 1}\n0000000000 65535 f \n".encode()
        for off in offsets:
            out += f"{off:010d} 00000 n \n".encode()
        out += f"trailer\n<< /Size {len(self.objects) + 1} /Root {root} 0 R >>\n".encode()
        out += f"startxref\n{xref}\n%%EOF\n".encode()
        return bytes(out)


def pdf(
    contents: list[bytes],
    *,
    media_box: tuple[float, float] = (612, 792),
    compress: bool = False,
    tree_depth: int = 0,
    tree_loop: bool = False,
) -> bytes:
    """A PDF with one page per content stream.

    ``tree_depth``: the pages hang below a chain of that many intermediate page-tree nodes.
    ``tree_loop``: the page tree also lists its own root among its kids.
    """
    w = PdfWriter()
    catalog = w.reserve()
    root = w.reserve()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    parent = root
    chain = []
    for _ in range(tree_depth):
        node = w.reserve()
        chain.append((parent, node))
        parent = node
    page_nums = []
    for data in contents:
        content = w.stream(data, compress=compress)
        page_nums.append(
            w.add(
                f"<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 {media_box[0]:g} "
                f"{media_box[1]:g}] /Resources << /Font << /F1 {font} 0 R >> >> "
                f"/Contents {content} 0 R >>".encode()
            )
        )
    n = len(page_nums)
    kids = " ".join(f"{p} 0 R" for p in page_nums)
    for up, node in reversed(chain):
        w.set(node, f"<< /Type /Pages /Parent {up} 0 R /Kids [{kids}] /Count {n} >>".encode())
        kids = f"{node} 0 R"
    if tree_loop:
        kids += f" {root} 0 R"
    w.set(root, f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    w.set(catalog, f"<< /Type /Catalog /Pages {root} 0 R >>".encode())
    return w.bytes(catalog)


def inflating_page(megabytes: int) -> bytes:
    """A one-page PDF whose content stream is about 1 MB compressed and ``megabytes`` MB
    inflated (spaces: harmless once read, but it must be read)."""
    w = PdfWriter()
    catalog = w.reserve()
    root = w.reserve()
    comp = zlib.compressobj(9)
    block = b" " * (1 << 20)
    data = b"".join(comp.compress(block) for _ in range(megabytes)) + comp.flush()
    content = w.add(
        f"<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode() + data + b"\nendstream"
    )
    page = w.add(
        f"<< /Type /Page /Parent {root} 0 R /MediaBox [0 0 612 792] "
        f"/Contents {content} 0 R >>".encode()
    )
    w.set(root, f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>".encode())
    w.set(catalog, f"<< /Type /Catalog /Pages {root} 0 R >>".encode())
    return w.bytes(catalog)


def doubling_page_tree(levels: int, content: bytes) -> bytes:
    """A PDF of ``2 ** levels`` pages from ``levels + 4`` objects: each node of the page tree
    lists the same child twice, down to one page seen at every leaf. A reader that reads every
    page works for hours (2 ** 18 pages: 262,144; pdfium refuses 2 ** 19 and more)."""
    w = PdfWriter()
    catalog = w.reserve()
    nodes = [w.reserve() for _ in range(levels)]
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    stream = w.stream(content)
    page = w.add(
        f"<< /Type /Page /Parent {nodes[-1]} 0 R /MediaBox [0 0 612 792] "
        f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {stream} 0 R >>".encode()
    )
    for i, node in enumerate(nodes):
        kid = nodes[i + 1] if i + 1 < levels else page
        up = f"/Parent {nodes[i - 1]} 0 R " if i else ""
        count = 2 ** (levels - i)
        w.set(node, f"<< /Type /Pages {up}/Kids [{kid} 0 R {kid} 0 R] /Count {count} >>".encode())
    w.set(catalog, f"<< /Type /Catalog /Pages {nodes[0]} 0 R >>".encode())
    return w.bytes(catalog)
