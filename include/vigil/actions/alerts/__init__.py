"""Risk-tier and pipeline alerts to compliance teams (issue 6): derive, record once, route, send.

    from vigil.actions.alerts import derive_alerts, dispatch_alerts
    alerts = derive_alerts(warehouse_url, run_date, run_id)            # from the publish schema
    dispatch_alerts(warehouse_url, alerts, run_date=run_date, run_id=run_id, out=out,
                    config_path=settings.alerting_config)              # None: record only (demo)

Builders for alerts the pipeline makes itself: `breaker_hold_alert`, `data_quality_alert`,
`dead_letter_alert`, `refused_tickets_alert`, `overdue_ticket_alerts`. See docs/alerts.md.
"""

from vigil.actions.alerts.config import AlertingConfig, load_config
from vigil.actions.alerts.derive import (breaker_hold_alert, data_quality_alert, dead_letter_alert, derive_alerts,
                                 overdue_ticket_alerts, refused_tickets_alert)
from vigil.actions.alerts.dispatch import alerts_path, dispatch_alerts, storm_summary
from vigil.actions.alerts.model import KINDS, SEVERITIES, Alert, make_alert_id

__all__ = [
    "Alert", "AlertingConfig", "KINDS", "SEVERITIES", "alerts_path", "breaker_hold_alert", "data_quality_alert",
    "dead_letter_alert", "derive_alerts", "overdue_ticket_alerts", "refused_tickets_alert", "dispatch_alerts", "load_config", "make_alert_id", "storm_summary",
]
