"""An nbconvert exporter that saves notebooks as Word (.docx) documents."""

from tm351_docx.exporter import DocxExporter, PandocError

__all__ = ["DocxExporter", "PandocError"]
