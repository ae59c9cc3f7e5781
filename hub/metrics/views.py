"""City figures as a JSON API, CSV and GeoJSON (role city or admin). Thin: the figures come
from `hub.metrics.service`, the files from `hub.metrics.export`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.deps import DbSession, Services, require
from hub.errors import Rejected
from hub.metrics import export, service
from hub.metrics.config import Assumptions
from hub.metrics.schemas import Breakdown, BreakdownRow, Summary

router = APIRouter(prefix="/api/v1/metrics", tags=["city"])

City = Annotated[Principal, Depends(require(Role.CITY))]


def parse_period(value: str | None, *, end: bool = False) -> float | None:
    """`YYYY-MM` or `YYYY-MM-DD` (UTC) to Unix seconds; an end bound is exclusive, so `until=2026-05`
    means up to the end of May."""
    if not value:
        return None
    try:
        if len(value) == 7:
            start = datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC)
            if end:
                start = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
            return start.timestamp()
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return day.timestamp() + (86400 if end else 0)
    except ValueError:
        raise Rejected(f"{value!r} is not a month (YYYY-MM) or a day (YYYY-MM-DD)") from None


def parse_number(value: str | None, name: str, low: float, high: float) -> float | None:
    """A number from the query; empty means "use the setting" (a form sends empty fields)."""
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise Rejected(f"{name} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise Rejected(f"{name} must be between {low:g} and {high:g}")
    return number


class ReportQuery:
    """The period and any per-request override of the assumptions (`defaults`: the settings')."""

    def __init__(
        self,
        services: Services,
        since: Annotated[str | None, Query(description="First month or day, e.g. `2026-01` (UTC).")] = None,
        until: Annotated[str | None, Query(description="Last month or day, inclusive.")] = None,
        radius_km: Annotated[str | None, Query(description="Local radius in km (default: setting).")] = None,
        baseline_km: Annotated[str | None, Query(description="Import baseline in km (default: setting).")] = None,
        emission_kg_per_tkm: Annotated[str | None, Query(description="kg CO2e per tonne-km.")] = None,
    ) -> None:
        self.defaults: Assumptions = services.settings.city.assumptions()
        overrides: dict[str, Any] = {
            k: v
            for k, v in (
                ("radius_km", parse_number(radius_km, "radius_km", 0.001, 20000)),
                ("baseline_km", parse_number(baseline_km, "baseline_km", 0, 40000)),
                ("emission_kg_per_tkm", parse_number(emission_kg_per_tkm, "emission_kg_per_tkm", 0, 100)),
            )
            if v is not None
        }
        self.assumptions: Assumptions = replace(self.defaults, **overrides)
        self.since, self.until = parse_period(since), parse_period(until, end=True)

    def report(self, session: Session) -> service.CityReport:
        return service.city_report(session, self.assumptions, since=self.since, until=self.until)


Params = Annotated[ReportQuery, Depends()]


def summary_of(report: service.CityReport) -> Summary:
    return Summary(
        assumptions=report.assumptions.as_dict(),
        formulas=service.FORMULAS,
        since=report.since,
        until=report.until,
        member_labs=report.member_labs,
        total=report.total.rounded(),
    )


def breakdown_rows(report: service.CityReport, by: str) -> list[BreakdownRow]:
    if by == "district":
        return [BreakdownRow(key=k, district=k, **f.rounded()) for k, f in report.by_district.items()]
    if by == "month":
        return [BreakdownRow(key=k, month=k, **f.rounded()) for k, f in report.by_month.items()]
    if by == "lab":
        return [
            BreakdownRow(
                key=lab.node_id, name=lab.name, district=lab.district, lat=lab.lat, lon=lab.lon, **lab.figures.rounded()
            )
            for lab in report.labs
        ]
    return [
        BreakdownRow(key=f"{d}|{m}", district=d, month=m, **f.rounded())
        for (d, m), f in report.by_district_month.items()
    ]


@router.get(
    "/summary",
    response_model=Summary,
    summary="City totals: parts, kg, local orders, transport and CO2 avoided, labour hours, labs",
)
def summary(session: DbSession, _: City, params: Params) -> Summary:
    return summary_of(params.report(session))


@router.get("/breakdown", response_model=Breakdown, summary="The same figures per district, month or lab")
def breakdown(
    session: DbSession,
    _: City,
    params: Params,
    by: Literal["district", "month", "district_month", "lab"] = "district_month",
) -> Breakdown:
    report = params.report(session)
    return Breakdown(by=by, assumptions=report.assumptions.as_dict(), rows=breakdown_rows(report, by))


@router.get(
    "/export.csv",
    response_class=Response,
    summary="Open data: a table of the figures as CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
def export_csv(
    session: DbSession,
    _: City,
    params: Params,
    table: Literal["district", "month", "district_month", "lab", "part"] = "district_month",
) -> Response:
    text = export.to_csv(params.report(session), table)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cofab-city-{table}.csv"'},
    )


@router.get(
    "/map.geojson",
    summary="Open data: labs and maker-to-lab flows as GeoJSON",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def export_geojson(session: DbSession, _: City, params: Params) -> JSONResponse:
    return JSONResponse(
        export.to_geojson(params.report(session)),
        media_type="application/geo+json",
        headers={"Content-Disposition": 'attachment; filename="cofab-city.geojson"'},
    )
