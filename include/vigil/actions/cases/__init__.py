"""The response loop's cases out to the bank's ITSM (docs/cases.md): the nightly writes each night's
new and changed case documents to ``<out>/cases/<D>/cases.jsonl`` (write.py) and delivers them on the
delivery core (delivery.py).

    from vigil.actions.cases import deliver_cases, write_cases
    write_cases(warehouse_url, run_date, run_id, out=out)   # <out>/cases/<D>/cases.jsonl
    summary = deliver_cases(settings, day)
"""

from vigil.actions.cases.delivery import CaseFileError, deliver_cases, read_cases
from vigil.actions.cases.write import write_cases

__all__ = ["CaseFileError", "deliver_cases", "read_cases", "write_cases"]
