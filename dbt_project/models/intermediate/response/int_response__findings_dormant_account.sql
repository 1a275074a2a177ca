-- Case kind dormant_account: one finding per published dormant_account exception (rule AL-05,
-- pub_access_exceptions). The subject is the account: '<system>:<account_id>'.
{{ access_exception_finding('dormant_account', 'AL-05', 'account') }}
