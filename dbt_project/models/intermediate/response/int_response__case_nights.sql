-- One row per night a case's state as of run_date reads (docs/cases.md, "Identity, state and
-- history"): the run dates up to run_date that built the response models (int_response__nights)
-- and were published (int_response__published_nights), plus run_date itself, the night being
-- built. A night that was held (a critical gate failed or a breaker tripped) and never rerun kept
-- its slice in int_response__finding_history, but nobody saw it published: it is no night of the
-- cases, so a finding missing only on it is neither closed on it nor reopened after it. Once
-- rerun and published it counts like any other.
select nights.as_of_date
from {{ ref('int_response__nights') }} as nights
where nights.as_of_date < {{ run_date_sql() }}
  and nights.as_of_date in (select as_of_date from {{ ref('int_response__published_nights') }})
union all
select nights.as_of_date
from {{ ref('int_response__nights') }} as nights
where nights.as_of_date = {{ run_date_sql() }}
