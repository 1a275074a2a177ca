-- One row per run date before run_date that the nightly pipeline published (audit.audit_log,
-- event 'published': vigil.pipeline.publish_night appends it after the publish swap). A night held
-- by a gate or a breaker has no such event until it is rerun and published. run_date itself and
-- later nights are left out, so a rerun of the night builds this table as its first run did. The
-- audit log is the pipeline's own record (vigil.store.audit): absent in a warehouse no night was
-- ever published in, so it is looked up, not declared as a source (as fct_leaver_revocations
-- reads urgent.events).
{%- set audit_log = adapter.get_relation(database=target.database, schema='audit', identifier='audit_log') if execute else none %}
{%- if audit_log %}
select distinct cast(run_date as date) as as_of_date
from {{ audit_log }}
where event = 'published'
  and run_date < {{ run_date_sql() }}
{%- else %}
select {{ dbt.cast('null', 'date') }} as as_of_date
where 1 = 0
{%- endif %}
