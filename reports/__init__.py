"""Tables, plots and the HTML report, rendered from run directories' results files.

`reports.build_report(run_dirs)` (returns the path of report.html) or
`python -m reports RUNS... --output DIR` reads only the files of docs/contracts.md §4 and
never re-runs a model.
"""

__version__ = "0.1.0"

from .build import Report, ReportOptions, build_report, write_report
from .intervals import BootstrapSettings

__all__ = [
    "BootstrapSettings",
    "Report",
    "ReportOptions",
    "__version__",
    "build_report",
    "write_report",
]
