"""CSV in and out: downloads that spreadsheets open safely, and the preview an upload becomes."""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import Response

# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ would make it a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(SPREADSHEET_TRIGGERS) else text


def csv_download(filename: str, header: list[str], rows: Iterable[Iterable]) -> Response:
    """A CSV attachment, UTF-8 with a byte-order mark so Excel reads accents right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return Response(
        "\ufeff" + out.getvalue(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


Row = TypeVar("Row")


@dataclass
class Preview(Generic[Row]):
    """An uploaded file read row by row, before anything is saved: all or nothing."""

    rows: list[Row]
    problems: list[str]  # about the whole file (no header, too many rows…)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows) and not any(r.errors for r in self.rows)

    @property
    def error_count(self) -> int:
        return sum(1 for r in self.rows if r.errors)


def uploaded_text(form) -> str | None:
    """The CSV an import form carries: the chosen file, else the pasted text (the preview's
    confirmation posts the text back). None when the file is not UTF-8 text; the form then says
    so on its file field."""
    upload = form.file.data
    if not (upload and getattr(upload, "filename", "")):
        return form.text.data or ""
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        form.file.errors.append("Save the file as CSV (UTF-8) and try again.")
        return None
