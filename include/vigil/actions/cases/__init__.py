"""Compliance cases (issue 22): the nightly writes each night's case documents to
``<out>/cases/<D>/cases.jsonl``; this package delivers them (docs/cases.md, "Delivery").

    from vigil.actions.cases import deliver_cases
    summary = deliver_cases(settings, day)
"""

from vigil.actions.cases.delivery import CaseFileError, deliver_cases, read_cases

__all__ = ["CaseFileError", "deliver_cases", "read_cases"]
