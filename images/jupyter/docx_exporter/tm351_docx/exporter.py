"""Notebook to Word: nbconvert's HTML, converted by pandoc."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from nbconvert.exporters import Exporter, HTMLExporter
from nbformat import NotebookNode
from traitlets import Float, List, Unicode, default
from traitlets.config import Config

DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# Jupyter typesets $...$, $$...$$ and \(...\) with MathJax; pandoc turns them into Word equations.
PANDOC_READER = "html+tex_math_dollars+tex_math_single_backslash"

# Which of an output's representations goes into the document. Unlike HTML's order, bitmaps come before SVG, which
# pandoc 2.17 embeds without a bitmap fallback; widgets, JavaScript and mermaid fall back to their text.
DISPLAY_DATA_PRIORITY = [
    "text/html",
    "text/markdown",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "text/latex",
    "text/plain",
]


class PandocError(RuntimeError):
    """pandoc is missing, or it could not make the Word document."""


class DocxExporter(Exporter):
    """Export a notebook to Word (.docx) through nbconvert's HTML and pandoc."""

    export_from_notebook = "Word (.docx)"
    output_mimetype = DOCX_MIMETYPE

    pandoc_command = Unicode("pandoc", help="The pandoc program: a name looked up on PATH, or a path.").tag(config=True)
    pandoc_args = List(Unicode(), help="Extra command-line arguments for pandoc.").tag(config=True)
    pandoc_timeout = Float(300.0, help="Seconds pandoc may run before the export fails.").tag(config=True)

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".docx"

    def from_notebook_node(
        self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[bytes, dict[str, Any]]:
        """Convert a notebook to the bytes of a .docx file."""
        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        # Exporter.__init__ ignores a parent's config, so it is handed over too (for --no-input and the like).
        config = Config({"NbConvertBase": {"display_data_priority": DISPLAY_DATA_PRIORITY}})
        config.merge(self.config)
        html_exporter = HTMLExporter(
            parent=self,
            config=config,
            template_name="basic",
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            exclude_anchor_links=True,
            embed_images=True,
        )
        html, resources = html_exporter.from_notebook_node(nb_copy, resources)
        docx = self.run_pandoc(html, resources.get("metadata", {}).get("path") or os.curdir)
        resources["output_extension"] = ".docx"
        # Nothing besides the .docx is written, so this is not a multi-file export.
        resources.pop("outputs", None)
        resources.pop("attachments", None)
        return docx, resources

    def run_pandoc(self, html: str, notebook_dir: str = os.curdir) -> bytes:
        """Convert an HTML fragment to .docx bytes; relative images are looked for in notebook_dir."""
        pandoc = shutil.which(self.pandoc_command)
        if pandoc is None:
            msg = f"pandoc is needed to export to Word (.docx) but {self.pandoc_command!r} was not found"
            raise PandocError(msg)
        resource_path = os.path.abspath(notebook_dir)
        with tempfile.TemporaryDirectory(prefix="tm351-docx-") as tmp:
            output = Path(tmp, "notebook.docx")
            command = [
                pandoc,
                "--from",
                PANDOC_READER,
                "--to",
                "docx",
                "--resource-path",
                resource_path,
                "--output",
                str(output),
                *self.pandoc_args,
            ]
            try:
                result = subprocess.run(
                    command,
                    input=html.encode("utf-8"),
                    capture_output=True,
                    cwd=tmp,
                    timeout=self.pandoc_timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as error:
                msg = f"pandoc took more than {self.pandoc_timeout:g} s to make the Word document"
                raise PandocError(msg) from error
            except OSError as error:
                msg = f"pandoc ({pandoc}) could not be run: {error}"
                raise PandocError(msg) from error
            stderr = result.stderr.decode("utf-8", "replace").strip()
            if result.returncode != 0 or not output.is_file():
                msg = f"pandoc failed with exit status {result.returncode}: {stderr or '(no output on stderr)'}"
                raise PandocError(msg)
            if stderr:
                self.log.warning("pandoc: %s", stderr)
            return output.read_bytes()
