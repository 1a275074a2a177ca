-- Case kind orphan_account: one finding per published orphan_account exception (rule AL-04,
-- pub_access_exceptions). The subject is the account: '<system>:<account_id>'.
{{ access_exception_finding('orphan_account', 'AL-04', 'account') }}
