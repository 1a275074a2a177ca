-- Case kind sod_conflict: one finding per published segregation-of-duties conflict (rule AL-07,
-- pub_access_exceptions). The subject is the (employee, toxic pair): '<employee_id>:<pair_id>'.
{{ access_exception_finding('sod_conflict', 'AL-07', 'employee_sod_pair') }}
