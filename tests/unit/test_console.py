from datetime import timedelta

from services.cli.console import line
from services.core.policy import Policy
from services.notification import domain as notices
from tests.unit.scheduling.world import START, World


def test_console_lines_show_keys_and_local_times_never_names() -> None:
    world = World()
    world.open()
    world.request()
    world.schedule(START + timedelta(hours=10))
    [alert] = world.alerts
    [notice] = notices.on_alert(world.notification_record(), alert, Policy(), START).notices
    alert_line = line("notice.alerts.v1", alert.key, alert.model_dump(mode="json"))
    notice_line = line("notices.dhs-ice.v1", notice.key, notice.model_dump(mode="json"))
    assert alert_line is not None
    assert notice_line is not None
    assert alert_line.startswith("ALERT  notice_due")
    assert "LATE" in alert_line
    assert "CST" in alert_line  # Chicago wall-clock time
    assert notice_line.startswith("NOTICE notice_due")
    for text in (alert_line, notice_line):
        assert "Alexandra" not in text
        assert "Quintanilla" not in text
        assert "1990" not in text
    assert line("booking.state.v1", alert.key, {}) is None
