"""The promotion and stock report: a self-contained HTML page with inline SVG charts.

`data.load_report_data` reads the marts (and ops.column_provenance) from a DuckDB connection,
`page.render_report` turns them into HTML, `page.write_report` saves it atomically. No Dagster
imports: the asset in orchestration/report.py wires them together.
"""

from orchestration.lib.report.data import ReportData, load_report_data
from orchestration.lib.report.page import REPORT_FILE, render_report, write_report

__all__ = ["REPORT_FILE", "ReportData", "load_report_data", "render_report", "write_report"]
