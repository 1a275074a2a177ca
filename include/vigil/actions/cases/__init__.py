"""The response loop's cases, out to the bank's ITSM (docs/cases.md).

    from vigil.actions.cases.write import write_cases
    write_cases(warehouse_url, run_date, run_id, out=out)   # <out>/cases/<D>/cases.jsonl
"""
