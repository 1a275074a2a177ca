-- One row per (case_id, episode): each unbroken run of nights on which the case's finding was
-- present, as of run_date (macro response_episodes). closed_on: the night the data showed the
-- condition gone (closure verified by the data, never by a claim). A case with a second episode
-- was reopened: its condition came back after a verified closure.
{{ response_episodes(ref('int_response__finding_history'), ['case_id']) }}
