"""The one exception type for bad input: it names the file (or argument) and the problem.

The library's convention, everywhere:

- `PanopticInputError` (a `ValueError`) for anything wrong with the *data* it is given:
  a missing, unreadable or corrupt file, a malformed JSON entry, a hostile path, an array of
  the wrong shape or dtype, an id or label out of range, an image given twice. Its message
  is ``"<source>: <problem>"``; the command line turns it into exit status 2.
- `ValueError` or `TypeError` for a wrong *configuration* argument of a function or class
  (`mode`, `workers`, `num_classes`, `label_divisor`, merging accumulators set up
  differently): a mistake in the calling code, not in the data.
- `ImportError` naming the extra to install when an optional dependency is missing, and
  `RuntimeError` when torch.distributed is not initialised.
"""

from __future__ import annotations


class PanopticInputError(ValueError):
    """Bad input data: a corrupt or mismatched file, an unknown id, a hostile path.

    Attributes:
        source: the file, image or argument at fault (as the user would recognise it).
        problem: what is wrong with it, and where useful what was expected.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")

    def __reduce__(self) -> tuple[type[PanopticInputError], tuple[str, str]]:
        # Keeps the two fields when the error crosses a process boundary (worker -> parent).
        return (type(self), (self.source, self.problem))
