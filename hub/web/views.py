"""The four faces as server-rendered pages (Jinja2) with small scripts of their own.

Why server-rendered: every page is useful before any script runs (figures, lists, forms), the
hub already has the data in hand, there is no build step, and the scripts that add the live
parts (quote, upload progress, order and console streams, the 3D viewer, the maps) are a few
kilobytes served from `static/`. Nothing is fetched from outside the hub; the Content Security
Policy sent with every page says so to the browser too.

Routes stay thin: data comes from the domain services and `hub.web.queries`; state changes go
through the JSON API (the pages' scripts call it with the sign-in cookie and the CSRF token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hub.auth.roles import Role
from hub.auth.service import Principal, authenticate
from hub.catalog import search
from hub.catalog import service as catalog
from hub.catalog.licences import known_licence_ids
from hub.deps import DbSession, Services
from hub.errors import Forbidden
from hub.metrics import service as metrics
from hub.metrics.service import FORMULAS
from hub.metrics.views import ReportQuery
from hub.web import charts, queries
from hub.web.session import COOKIE, COOKIE_MAX_AGE_S, csrf_ok, csrf_token

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["fmt"] = charts.fmt

router = APIRouter(include_in_schema=False)

HOME = {
    Role.MAKER: "/catalogue",
    Role.DESIGNER: "/designer",
    Role.LAB: "/lab",
    Role.CITY: "/city",
    Role.ADMIN: "/catalogue",
}
NAV = {
    Role.MAKER: [("/catalogue", "Catalogue"), ("/orders", "My orders")],
    Role.DESIGNER: [("/designer", "My designs"), ("/designer/publish", "Publish"), ("/catalogue", "Catalogue")],
    Role.LAB: [("/lab", "Console"), ("/catalogue", "Catalogue")],
    Role.CITY: [("/city", "City figures"), ("/catalogue", "Catalogue")],
    Role.ADMIN: [
        ("/catalogue", "Catalogue"),
        ("/orders", "Orders"),
        ("/designer", "Designs"),
        ("/lab", "Labs"),
        ("/city", "City"),
    ],
}
WHO = {
    Role.MAKER: "makers",
    Role.DESIGNER: "designers",
    Role.LAB: "labs",
    Role.CITY: "city programmes",
    Role.ADMIN: "admins",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """The page needs a signed-in person; they go to the sign-in page and come back."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class WrongRole(Exception):
    def __init__(self, principal: Principal, roles: tuple[Role, ...]) -> None:
        self.principal, self.roles = principal, roles


def signed_in(request: Request, session: DbSession) -> Principal | None:
    token = request.cookies.get(COOKIE)
    return authenticate(session, token) if token else None


def page_for(*roles: Role):
    """A page for these roles (admins always); others are sent to sign in or told whose page it is."""

    def check(request: Request, principal: Annotated[Principal | None, Depends(signed_in)]) -> Principal:
        if principal is None:
            raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if roles and principal.role not in roles and principal.role is not Role.ADMIN:
            raise WrongRole(principal, roles)
        return principal

    return check


AnyRole = Annotated[Principal, Depends(page_for())]


def render(
    request: Request, template: str, principal: Principal | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    token = request.cookies.get(COOKIE)
    secret = request.app.state.services.settings.secret_key
    base = {
        "principal": principal,
        "nav": NAV.get(principal.role, []) if principal else [],
        "csrf": csrf_token(secret, token) if token and principal else "",
        "path": request.url.path,
    }
    return TEMPLATES.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code, headers=SECURITY_HEADERS
    )


def error_page(
    request: Request, principal: Principal | None, *, title: str, message: str, status_code: int = 200
) -> HTMLResponse:
    """A page that says what went wrong in words, with the signed-in person's navigation."""
    return render(request, "error.html", principal, status_code=status_code, title=title, message=message)


def install_handlers(app) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @app.exception_handler(WrongRole)
    async def _wrong_role(request: Request, exc: WrongRole) -> Response:
        return error_page(
            request,
            exc.principal,
            status_code=403,
            title="Not your page",
            message=f"This page is for {' or '.join(WHO[r] for r in exc.roles)}; you are signed in as "
            f"{exc.principal.name} ({exc.principal.role.value}).",
        )


def _safe_next(value: str | None, role: Role) -> str:
    """Only a local path: never send someone to another site after signing in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return HOME[role]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


# --- sign-in ---------------------------------------------------------------------------------


@router.get("/")
def home(principal: Annotated[Principal | None, Depends(signed_in)]) -> Response:
    return RedirectResponse(HOME[principal.role] if principal else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, principal: Annotated[Principal | None, Depends(signed_in)], next: str | None = None
) -> HTMLResponse:
    return render(request, "login.html", principal, next=next or "", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: DbSession,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not _same_origin(request):
        raise Forbidden("sign-in from another site refused")
    principal = authenticate(session, token.strip())
    if principal is None:
        return render(
            request,
            "login.html",
            None,
            status_code=401,
            next=next,
            error="That token is not valid (or it was revoked). Ask your cooperative's admin for one.",
        )
    response = RedirectResponse(_safe_next(next, principal.role), status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, services: Services, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    token = request.cookies.get(COOKIE)
    if token and not csrf_ok(services.settings.secret_key, token, csrf):
        raise Forbidden("sign-out needs the page's CSRF token")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- maker -----------------------------------------------------------------------------------


@router.get("/catalogue", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    session: DbSession,
    principal: AnyRole,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    per_page = 24
    result = search.search_designs(
        session, search.SearchQuery(q=q or None, limit=per_page, offset=(page - 1) * per_page)
    )
    # an inexact total (past the search's count cap) is a lower bound: a full page may have a next one
    return render(
        request,
        "catalog.html",
        principal,
        q=q or "",
        page=page,
        result=result,
        thumbs=queries.thumbnails(session, result.items),
        pages=max(1, -(-result.total // per_page)),
        more=not result.total_exact and len(result.items) == per_page,
    )


@router.get("/designs/{design_id}", response_class=HTMLResponse)
def design_page(design_id: str, request: Request, session: DbSession, principal: AnyRole) -> HTMLResponse:
    design = catalog.design_public(session, design_id)
    if design is None:
        return error_page(
            request, principal, status_code=404, title="No such design", message=f"There is no design {design_id}."
        )
    labs = queries.labs_for_map(session)
    return render(
        request,
        "design.html",
        principal,
        design=design,
        labs=labs,
        can_order=principal.role in (Role.MAKER, Role.ADMIN),
        is_owner=principal.role in (Role.DESIGNER, Role.ADMIN),
        page_data={
            "design_id": design.id,
            "materials": design.materials or ["PLA"],
            "labs": labs,
            "viewer_url": next((f.viewer_url for f in design.files if f.viewer_url), None),
            "thumbnail_url": next((f.thumbnail_url for f in design.files if f.thumbnail_url), None),
        },
    )


@router.get("/orders", response_class=HTMLResponse)
def orders_page(
    request: Request, session: DbSession, principal: Annotated[Principal, Depends(page_for(Role.MAKER))]
) -> HTMLResponse:
    return render(request, "orders.html", principal, orders=queries.maker_orders(session, principal))


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(
    order_id: str,
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, Depends(page_for(Role.MAKER, Role.CITY))],
) -> HTMLResponse:
    owner = queries.order_owner(session, order_id)
    if owner is None or (principal.role is Role.MAKER and owner != principal.token_id):
        return error_page(
            request,
            principal,
            status_code=404,
            title="No such order",
            message=f"There is no order {order_id} of yours.",
        )
    grid = request.app.state.services.settings.city.privacy_grid_deg
    return render(request, "order.html", principal, order=queries.order_snapshot(session, order_id, principal, grid))


# --- designer --------------------------------------------------------------------------------

Designer = Annotated[Principal, Depends(page_for(Role.DESIGNER))]


@router.get("/designer", response_class=HTMLResponse)
def designer_page(request: Request, session: DbSession, principal: Designer) -> HTMLResponse:
    return render(
        request,
        "designer.html",
        principal,
        overview=queries.designer_overview(session, principal),
        choices=queries.design_choices(session),
    )


@router.get("/designer/publish", response_class=HTMLResponse)
def publish_page(
    request: Request,
    session: DbSession,
    services: Services,
    principal: Designer,
    design: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    target = catalog.design_public(session, design) if design else None
    return render(
        request,
        "publish.html",
        principal,
        target=target,
        licences=[catalog.licence_public(i) for i in known_licence_ids()],
        choices=queries.design_choices(session),
        max_bytes=services.settings.upload_max_bytes,
    )


# --- lab -------------------------------------------------------------------------------------


@router.get("/lab", response_class=HTMLResponse)
def lab_page(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, Depends(page_for(Role.LAB))],
    node: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    node_id = principal.node_id if principal.role is Role.LAB else node
    if node_id is None:
        labs = queries.labs_for_map(session)
        return error_page(
            request,
            principal,
            title="Which lab?",
            message="An admin opens a lab's console as /lab?node=<id>: "
            + (", ".join(lab["id"] for lab in labs) or "no labs yet")
            + ".",
        )
    console = queries.lab_console(session, node_id)
    if console is None:
        return error_page(
            request, principal, status_code=404, title="No such lab", message=f"There is no lab {node_id}."
        )
    return render(request, "lab.html", principal, console=console)


# --- city ------------------------------------------------------------------------------------


@router.get("/city", response_class=HTMLResponse)
def city_page(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, Depends(page_for(Role.CITY))],
    params: Annotated[ReportQuery, Depends()],
) -> HTMLResponse:
    report = params.report(session)
    query = {
        k: v
        for k, v in request.query_params.items()
        if k in ("since", "until", "radius_km", "baseline_km", "emission_kg_per_tkm") and v
    }
    months = list(report.by_month.items())
    districts = list(report.by_district.items())
    chart_list = [
        charts.bar_chart("Parts made per month", "parts", [(k, f.parts) for k, f in months]),
        charts.bar_chart("Kilograms made per month", "kg", [(k, f.mass_kg) for k, f in months]),
        charts.bar_chart("Parts made per district", "parts", [(k, f.parts) for k, f in districts]),
        charts.bar_chart("CO2e avoided per district", "kg", [(k, f.co2_kg) for k, f in districts]),
    ]
    return render(
        request,
        "city.html",
        principal,
        report=report,
        total=report.total.rounded(),
        formulas=FORMULAS,
        charts=chart_list,
        query=query,
        qs=urlencode(query),
        defaults=params.defaults,
        form=dict(request.query_params),
        tables=("district_month", "district", "month", "lab", "part"),
        lab_figures=[(lab, lab.figures.rounded()) for lab in report.labs],
        district_month=[(d, m, f.rounded()) for (d, m), f in report.by_district_month.items()],
        parts_sources=_sources(report.records),
    )


def _sources(records: list[metrics.PartRecord]) -> dict[str, int]:
    out: dict[str, int] = {}
    for record in records:
        out[record.mass_source] = out.get(record.mass_source, 0) + 1
    return out
