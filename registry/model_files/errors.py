"""The one exception the model-file checks raise on purpose."""

from __future__ import annotations


class ModelFileRefused(Exception):
    """A model file may not be trusted: malformed, too large, or outside the allow-list.

    `reasons` lists every problem found (at least one); `str()` joins them. `referenced`
    lists the importable names the file refers to, when the check got that far.
    """

    code = "model_file_refused"

    def __init__(
        self, reason: str | list[str] | tuple[str, ...], *, referenced: tuple[str, ...] = ()
    ) -> None:
        reasons = (reason,) if isinstance(reason, str) else tuple(reason)
        self.reasons: tuple[str, ...] = reasons or ("refused",)
        self.referenced = referenced
        super().__init__("; ".join(self.reasons))
