-- One row per (case_id, item, episode) of a multi-item case (the leaver's plan), as
-- int_response__case_episodes: each item is verified closed separately.
{{ response_episodes(ref('int_response__finding_history'), ['case_id', 'item'], where='p.item is not null') }}
