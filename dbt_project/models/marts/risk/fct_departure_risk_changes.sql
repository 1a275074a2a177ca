-- One row per employee_id whose departure-risk tier moved between the previous slice of
-- fct_departure_risk_history (the latest as_of_date before run_date) and run_date's slice.
-- Someone missing from a slice (not an active employee that day) counts as low, so an employee
-- appearing at low or leaving from low is no movement; a leaver who was high shows as down with
-- in_current_slice false. Empty when the history holds no earlier slice.
{{ tier_changes(ref('fct_departure_risk_history'), 'employee_id', 'score') }}
