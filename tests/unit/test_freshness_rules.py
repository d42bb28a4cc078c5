from datetime import UTC, datetime, timedelta

from freezegun import freeze_time

from orchestration.freshness import breach_message, evaluate


def test_age_is_measured_against_now_and_the_threshold_is_inclusive():
    loaded = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    with freeze_time(loaded + timedelta(hours=25)):
        now = datetime.now(UTC)
        results = evaluate({"users": loaded, "products": None}, now=now, threshold_hours=25)
    users, products = results
    assert users.age_hours == 25 and users.passed
    assert products.age_hours is None and not products.passed
    assert breach_message([products], 25) == (
        "freshness SLA of 25h breached by 1 table(s): products (no rows)"
    )


def test_one_hour_past_the_threshold_fails():
    loaded = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    with freeze_time(loaded + timedelta(hours=26)):
        (users,) = evaluate({"users": loaded}, now=datetime.now(UTC), threshold_hours=25)
    assert not users.passed
    assert users.describe() == "users (26.0h old)"
