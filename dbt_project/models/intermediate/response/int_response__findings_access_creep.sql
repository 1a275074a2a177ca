-- Case kind access_creep: one finding per published kept entitlement after a move (rule AL-06,
-- pub_access_exceptions). The subject is the entitlement: '<system>:<account_id>:<entitlement>';
-- the business line the mover now works in owns the review (case_policy).
{{ access_exception_finding('access_creep', 'AL-06', 'entitlement') }}
