-- One row per complainant_id whose risk tier moved between the previous slice of
-- fct_complainant_risk_tier_history (the latest as_of_date before run_date) and run_date's slice.
-- Someone missing from a slice (no complaint in the window, nothing overdue) counts as low, so a
-- first complaint at low or ageing out from low is no movement; ageing out from medium or high is
-- a move down with in_current_slice false. Empty when the history holds no earlier slice.
{{ tier_changes(ref('fct_complainant_risk_tier_history'), 'complainant_id', 'total_points', 'points') }}
