"""Tables, plots and the HTML report, rendered from run directories' results files.

`python -m reports RUNS... --output DIR` (or `build_report`) reads only the files of
docs/contracts.md §4 and never re-runs a model.
"""

__version__ = "0.1.0"

from .build import Report, ReportOptions, build_report

__all__ = ["Report", "ReportOptions", "__version__", "build_report"]
