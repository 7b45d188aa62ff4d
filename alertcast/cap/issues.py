"""Findings about a CAP document: what was wrong (errors) or unusual (warnings), and where.

Every finding names the element path in CAP's own vocabulary (``alert/info[1]/area[0]/polygon[0]``, indices
counted from 0 among siblings of the same name) and a short rule id, so an operator can find the spot in the
file and a program can group findings without parsing prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alertcast.core.cap_model import Record


@dataclass(frozen=True, slots=True)
class CapIssue(Record):
    """One finding: ``path`` locates it, ``rule`` names the check, ``message`` explains it to a person."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule}]"


@dataclass(slots=True)
class IssueLog:
    """Collects errors and warnings while one alert is read; errors reject the alert, warnings do not."""

    errors: list[CapIssue] = field(default_factory=list)
    warnings: list[CapIssue] = field(default_factory=list)

    def error(self, path: str, rule: str, message: str) -> None:
        self.errors.append(CapIssue(path, rule, message))

    def warn(self, path: str, rule: str, message: str) -> None:
        self.warnings.append(CapIssue(path, rule, message))

    def has_warning(self, *rules: str) -> bool:
        return any(issue.rule in rules for issue in self.warnings)
