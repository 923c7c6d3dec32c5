"""The run's as-of instant and every cutoff derived from it (never from the wall clock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from retention.policy import Policy


def subtract_years(instant: datetime, years: int) -> datetime:
    """Calendar years, as PostgreSQL's ``instant - interval 'N years'`` (29 Feb -> 28 Feb)."""
    target_year = instant.year - years
    try:
        return instant.replace(year=target_year)
    except ValueError:  # 29 February in a non-leap target year
        return instant.replace(year=target_year, day=28)


def parse_as_of(value: str | datetime) -> datetime:
    """An ISO-8601 instant *with* a time zone, normalised to UTC; a naive value is refused."""
    if isinstance(value, datetime):
        instant = value
    else:
        try:
            instant = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"as_of must be an ISO-8601 instant with a time zone, e.g. 2026-06-15T00:00:00+00:00; got {value!r}"
            ) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("as_of must carry a time zone (e.g. +00:00): a naive instant is ambiguous")
    return instant.astimezone(timezone.utc)


@dataclass(frozen=True)
class RunWindow:
    """All instants a run compares against, in UTC."""

    as_of: datetime
    as_of_date: date
    inactive_before: datetime
    closed_on_or_before: datetime
    logs_before: datetime
    prospects_before: datetime
    notice_horizon: datetime
    notice_inactive_before: datetime
    dry_run: bool

    @classmethod
    def build(cls, as_of: str | datetime, policy: Policy, dry_run: bool = False) -> RunWindow:
        instant = parse_as_of(as_of)
        return cls(
            as_of=instant,
            as_of_date=instant.date(),
            inactive_before=subtract_years(instant, policy.account_inactivity_years),
            closed_on_or_before=instant - timedelta(days=policy.closed_account_grace_days),
            logs_before=subtract_years(instant, policy.connection_log_retention_years),
            prospects_before=subtract_years(instant, policy.prospect_retention_years),
            notice_horizon=instant + timedelta(days=policy.inactivity_notice_days),
            notice_inactive_before=subtract_years(
                instant + timedelta(days=policy.inactivity_notice_days), policy.account_inactivity_years
            ),
            dry_run=bool(dry_run),
        )

    def params(self) -> dict[str, object]:
        """Bound parameters shared by every SQL file."""
        return {
            "as_of": self.as_of,
            "as_of_date": self.as_of_date,
            "inactive_before": self.inactive_before,
            "closed_on_or_before": self.closed_on_or_before,
            "logs_before": self.logs_before,
            "prospects_before": self.prospects_before,
            "notice_horizon": self.notice_horizon,
            "notice_inactive_before": self.notice_inactive_before,
        }

    def to_xcom(self) -> dict[str, object]:
        """Serialisable form (instants only, no personal data)."""
        return {"as_of": self.as_of.isoformat(), "dry_run": self.dry_run}
