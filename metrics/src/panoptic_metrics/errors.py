"""The one exception type for bad input: it names the file (or argument) and the problem."""

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
