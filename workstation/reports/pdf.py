"""The report document both reports share: ReportLab, embedded fonts, PDF/A-3 metadata, attachment, footer.

Why ReportLab: it is pure Python with no GUI toolkit (the core may not import QtGui, and a report
must render in a headless CLI), it has been maintained since 2000 with regular releases, embeds
TrueType fonts as subsets, writes compressed streams fast enough for a 200-page positions table, and
its low-level document objects let us attach the manifest, XMP metadata and an sRGB output intent.

What makes the files PDF/A-3b-minded (not validated with veraPDF, which this project does not ship):
every font is embedded (Bitstream Vera, bundled with ReportLab; no standard-14 font is referenced,
even the canvas's initial one), XMP metadata with the PDF/A identification and the same title and
author as the Info dictionary, an sRGB ICC output intent, images without transparency, and the
manifest attached as an associated file (/AF, AFRelationship /Data).

Every page carries the footer: packet id, manifest SHA-256, page N of M.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import letter
from reportlab.lib.rl_accel import escapePDF
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

FONT, FONT_BOLD, FONT_ITALIC = "Vera", "VeraBd", "VeraIt"
PAGE_SIZE = letter
MARGIN = 0.6 * inch
FOOTER_HEIGHT = 0.45 * inch
_fonts_registered = False


def register_fonts() -> None:
    """Bitstream Vera (ships inside the reportlab wheel, so nothing to install) as embedded subsets."""
    global _fonts_registered
    if _fonts_registered:
        return
    # Streams Flate-compressed only: ASCII85 on top makes them 25 % bigger and cost a second per 200 pages.
    # ReportLab is used by this package alone, so the process-wide setting is ours to choose.
    rl_config.useA85 = 0
    for name in (FONT, FONT_BOLD, FONT_ITALIC):
        pdfmetrics.registerFont(TTFont(name, f"{name}.ttf"))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD)
    _fonts_registered = True


@dataclass(frozen=True)
class Styles:
    title: ParagraphStyle
    section: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle
    gap: ParagraphStyle  # "not held on this laptop" statements


def styles() -> Styles:
    register_fonts()
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=11.5, alignment=TA_LEFT)
    return Styles(
        title=ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=6),
        section=ParagraphStyle(
            "section", parent=body, fontName=FONT_BOLD, fontSize=12, leading=15, spaceBefore=10, spaceAfter=4,
            textColor=colors.HexColor("#1f3a5f"),
        ),
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5),
        gap=ParagraphStyle(
            "gap", parent=body, fontName=FONT_ITALIC, fontSize=8.5, leading=11, textColor=colors.HexColor("#8a3b00"),
            leftIndent=6, borderPadding=2,
        ),
    )


def text(value: Any) -> str:
    """A value as Paragraph markup (escaped); None shows as an em dash so an empty cell is never ambiguous."""
    if value is None or value == "":
        return "\u2014"
    return escape(str(value))


def key_value_table(rows: Sequence[tuple[str, Any]], st: Styles, widths: tuple[float, float] = (1.7 * inch, 5.5 * inch)) -> Table:
    data = [[Paragraph(f"<b>{escape(k)}</b>", st.body), Paragraph(text(v), st.body)] for k, v in rows]
    table = Table(data, colWidths=list(widths), hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 9),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d8dde3")),
    ]))
    return table


def grid_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float], *, font_size: float = 7.5,
    wrap: Styles | None = None,
) -> Table:
    """A ruled table. Plain strings by default (fast: the positions table has 10,000 rows); with `wrap`,
    cells are Paragraphs that wrap long text (notes)."""
    if wrap is not None:
        cell_style = ParagraphStyle("cell", parent=wrap.body, fontSize=font_size, leading=font_size + 2)
        body = [[Paragraph(text(c), cell_style) for c in row] for row in rows]
    else:
        body = [["\u2014" if c is None or c == "" else str(c) for c in row] for row in rows]
    table = Table([list(header), *body], colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, font_size, font_size + 2),
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, font_size, font_size + 2),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b8c2cc")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]))
    return table


class RuledRows(Flowable):
    """A ruled table of short plain-text cells in fixed columns, for the 10,000-row positions table.

    ReportLab's Table lays out and draws each cell as its own text object (about 60 us a cell here);
    this writes one text object per page of rows with the content-stream operators directly, which
    makes a week at one fix a minute render in about a second instead of six. It splits across pages
    by whole rows and repeats the header on each. Cells are never wrapped: column widths must fit.
    """

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
                 font_size: float = 7.0) -> None:
        super().__init__()
        self.header, self.rows, self.widths = list(header), rows, list(widths)
        self.font_size = font_size
        self.row_height = font_size + 3.2

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width, self.height = sum(self.widths), self.row_height * (len(self.rows) + 1)
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        fits = int(avail_height // self.row_height) - 1
        if fits <= 0:
            return []
        if fits >= len(self.rows):
            return [self]
        return [RuledRows(self.header, self.rows[:fits], self.widths, self.font_size),
                RuledRows(self.header, self.rows[fits:], self.widths, self.font_size)]

    def draw(self) -> None:
        canv, h, rh = self.canv, self.row_height, self.row_height
        total = self.height
        canv.saveState()
        canv.setFillColor(colors.HexColor("#e8edf3"))
        canv.rect(0, total - rh, self.width, rh, stroke=0, fill=1)
        canv.setStrokeColor(colors.HexColor("#b8c2cc"))
        canv.setLineWidth(0.25)
        path = canv.beginPath()
        for i in range(len(self.rows) + 2):
            path.moveTo(0, total - i * h)
            path.lineTo(self.width, total - i * h)
        x = 0.0
        for w in [0.0, *self.widths]:
            x += w
            path.moveTo(x, 0)
            path.lineTo(x, total)
        canv.drawPath(path, stroke=1, fill=0)
        canv.setFillColor(colors.black)
        lefts, x = [], 2.0
        for w in self.widths:
            lefts.append(x)
            x += w
        baseline = total - rh + 2.4
        ops = [self._cells(self.header, lefts, baseline, FONT_BOLD)]
        for i, row in enumerate(self.rows, start=1):
            ops.append(self._cells(row, lefts, baseline - i * h, FONT))
        canv.addLiteral("BT\n" + "\n".join(ops) + "\nET")
        canv.restoreState()

    def _cells(self, row: Sequence[Any], lefts: Sequence[float], y: float, font_name: str) -> str:
        font, doc, size = pdfmetrics.getFont(font_name), self.canv._doc, self.font_size
        parts = []
        for x, value in zip(lefts, row, strict=True):
            cell = "\u2014" if value is None or value == "" else str(value)
            parts.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm")
            for subset, chunk in font.splitString(cell, doc):
                parts.append(f"{font.getSubsetInternalName(subset, doc)} {size:g} Tf ({escapePDF(chunk)}) Tj")
        return " ".join(parts)


def section(title: str, st: Styles, gaps: Sequence[str] = ()) -> list[Flowable]:
    """A section heading followed by its "not held on this laptop" statements (kept with the heading)."""
    head: list[Flowable] = [Paragraph(escape(title), st.section)]
    head += [Paragraph(escape(g), st.gap) for g in gaps]
    return [KeepTogether(head)]


@dataclass(frozen=True)
class DocumentInfo:
    title: str
    author: str
    subject: str
    packet_id: str
    manifest_sha256: str
    created: datetime
    attachment_name: str
    attachment: bytes
    attachment_description: str
    #: how the footer names the id: "Packet" (evidence packet) or "Report" (day report)
    id_label: str = "Packet"


def build_pdf(info: DocumentInfo, story: list[Flowable]) -> bytes:
    """Lay out `story` into PDF bytes with the footer, fonts, metadata and the attached manifest."""
    register_fonts()
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out, pagesize=PAGE_SIZE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN + FOOTER_HEIGHT, title=info.title, author=info.author, subject=info.subject,
        creator="Field Workstation", producer="Field Workstation (ReportLab)", lang="en-US",
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body", leftPadding=0, rightPadding=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    doc.build(story, canvasmaker=_canvas_maker(info))
    return out.getvalue()


def _canvas_maker(info: DocumentInfo) -> Callable[..., rl_canvas.Canvas]:
    def make(*args: Any, **kwargs: Any) -> rl_canvas.Canvas:
        return _ReportCanvas(info, *args, **kwargs)

    return make


class _ReportCanvas(rl_canvas.Canvas):
    """Draws the footer once the page count is known and adds the document-level objects."""

    def __init__(self, info: DocumentInfo, *args: Any, **kwargs: Any) -> None:
        # else every page starts with Helvetica (a standard font, never embedded); the doc template passes None
        kwargs["initialFontName"] = FONT
        kwargs["pageCompression"] = 1
        super().__init__(*args, **kwargs)
        self._info = info
        self._pages: list[dict[str, Any]] = []
        _add_document_objects(self, info)

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._footer(number, total)
            super().showPage()
        super().save()

    def _footer(self, number: int, total: int) -> None:
        width, _ = PAGE_SIZE
        y = MARGIN * 0.75
        self.saveState()
        self.setStrokeColor(colors.HexColor("#b8c2cc"))
        self.setLineWidth(0.4)
        self.line(MARGIN, y + 16, width - MARGIN, y + 16)
        self.setFont(FONT, 6.8)
        self.setFillColor(colors.HexColor("#333333"))
        self.drawString(MARGIN, y + 7, f"{self._info.id_label} {self._info.packet_id}")
        self.drawRightString(width - MARGIN, y + 7, f"Page {number} of {total}")
        self.drawString(MARGIN, y - 2, f"Manifest SHA-256 {self._info.manifest_sha256}")
        self.drawRightString(width - MARGIN, y - 2, "Verify: workstation verify-packet FILE.pdf")
        self.restoreState()


def _add_document_objects(canvas: rl_canvas.Canvas, info: DocumentInfo) -> None:
    doc = canvas._doc
    catalog = doc.Catalog
    # The catalog only writes the keys it knows; these two are PDF 1.7/PDF-A-3 entries it does not list.
    extra = ["AF", "OutputIntents"]
    catalog.__NoDefault__ = [*pdfdoc.PDFCatalog.__NoDefault__, *extra]
    catalog.__Refs__ = catalog.__NoDefault__

    embedded = pdfdoc.PDFStream(
        pdfdoc.PDFDictionary({
            "Type": pdfdoc.PDFName("EmbeddedFile"),
            "Subtype": b"/application#2Fjson",  # a name with an escaped slash; PDFName would mangle it
            "Params": pdfdoc.PDFDictionary({
                "Size": len(info.attachment),
                "ModDate": pdfdoc.PDFString(_pdf_date(info.created)),
            }),
        }),
        info.attachment,
        filters=[pdfdoc.PDFZCompress],
    )
    filespec = pdfdoc.PDFDictionary({
        "Type": pdfdoc.PDFName("Filespec"),
        "F": pdfdoc.PDFString(info.attachment_name),
        "UF": pdfdoc.PDFString(info.attachment_name),
        "Desc": pdfdoc.PDFString(info.attachment_description),
        "AFRelationship": pdfdoc.PDFName("Data"),
        "EF": pdfdoc.PDFDictionary({"F": doc.Reference(embedded), "UF": doc.Reference(embedded)}),
    })
    filespec_ref = doc.Reference(filespec)
    catalog.Names = pdfdoc.PDFDictionary({
        "EmbeddedFiles": pdfdoc.PDFDictionary({
            "Names": pdfdoc.PDFArray([pdfdoc.PDFString(info.attachment_name), filespec_ref])
        })
    })
    catalog.AF = pdfdoc.PDFArray([filespec_ref])
    catalog.PageMode = pdfdoc.PDFName("UseAttachments")

    icc = _srgb_profile()
    icc_stream = pdfdoc.PDFStream(pdfdoc.PDFDictionary({"N": 3}), icc, filters=[pdfdoc.PDFZCompress])
    catalog.OutputIntents = pdfdoc.PDFArray([
        pdfdoc.PDFDictionary({
            "Type": pdfdoc.PDFName("OutputIntent"),
            "S": pdfdoc.PDFName("GTS_PDFA1"),
            "OutputConditionIdentifier": pdfdoc.PDFString("sRGB"),
            "Info": pdfdoc.PDFString("sRGB IEC61966-2.1"),
            "DestOutputProfile": doc.Reference(icc_stream),
        })
    ])
    metadata = pdfdoc.PDFStream(
        pdfdoc.PDFDictionary({"Type": pdfdoc.PDFName("Metadata"), "Subtype": pdfdoc.PDFName("XML")}),
        _xmp(info),
        filters=[],  # PDF/A wants the XMP packet readable without decoding
    )
    catalog.Metadata = metadata


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _pdf_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")


def _xmp(info: DocumentInfo) -> bytes:
    created = info.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(info.title)}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{escape(info.author)}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(info.subject)}</rdf:li></rdf:Alt></dc:description>
   <dc:identifier>{escape(info.packet_id)}</dc:identifier>
   <xmp:CreateDate>{created}</xmp:CreateDate>
   <xmp:CreatorTool>Field Workstation</xmp:CreatorTool>
   <pdf:Producer>Field Workstation (ReportLab)</pdf:Producer>
   <pdfaid:part>3</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return xml.encode("utf-8")


def spacer(height: float = 6) -> Spacer:
    return Spacer(1, height)
