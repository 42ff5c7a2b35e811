"""The hub's application: the JSON API's routers (api, agent_api) and the web UI's
(web) on one FastAPI app, the answers to errors every door shares, the middleware that
bounds bodies and sets the security headers, the sweep that raises events, mails
them and forgets old samples and traffic records (retention), and the loop that stores
the records of reports that queued once the queue is quiet (backlog). It only
assembles: the rules live in the domain modules both doors call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from nps_hub import (
    __version__,
    agent_api,
    api,
    backlog,
    dashboard,
    events,
    headers,
    lifecycle,
    limits,
    retention,
    roles,
    schema,
    updates,
    web,
    webpage,
)
from nps_hub import db as dbmod
from nps_hub.context import Hub

log = logging.getLogger("nps-hub")


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # One line naming the field; never the input (a body can be megabytes).
        detail = schema.describe(exc.errors())
        if webpage.browsing(request):
            return webpage.error_page(request, 400, detail)
        return JSONResponse({"detail": detail}, status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        # A browser's bad link or method gets a page; an API client keeps FastAPI's JSON.
        if webpage.browsing(request):
            return webpage.error_page(request, exc.status_code, str(exc.detail), exc.headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(lifecycle.Refused)
    def _refused(request: Request, exc: lifecycle.Refused) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(roles.Forbidden)
    def _forbidden(request: Request, exc: roles.Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(PoolTimeout)
    def _pool(request: Request, exc: PoolTimeout) -> JSONResponse:
        detail = "the hub is busy (every database connection in use): try again shortly"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "10"})

    @app.exception_handler(OperationalError)
    @app.exception_handler(IntegrityError)
    def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # Busy, unreachable, or a write that raced another: worth trying again, not a bug
        # the caller can fix. Logged in one line, without the statement's parameters.
        log.warning("database: %s", " ".join(str(exc.orig).split())[:300])
        detail = "the database is busy or unreachable: try again shortly"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "10"})


def create_app(hub: Hub) -> FastAPI:
    smtp = events.Smtp.from_env()

    def sweep_once() -> None:
        with dbmod.only_one(hub.engine, "sweep") as db:  # one hub process mails each event
            if db is not None:
                events.sweep(db, hub.settings.offline_after, hub.settings.reporting_stopped_after)
                events.notify(db, smtp)
                hub.guard.sweep(db)
                dashboard.prune(db)
                db.commit()
                pruned = retention.prune(db, hub.settings.flows_keep_days)  # commits batch by batch
                if pruned.flows or pruned.minutes:
                    log.info("%s", pruned.line())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(hub.settings.sweep_interval)
                try:
                    await run_in_threadpool(sweep_once)
                except Exception:
                    log.exception("event sweep failed; trying again")

        tasks = [asyncio.create_task(loop()), asyncio.create_task(backlog.run(hub.engine, hub.ingest.quiet))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            hub.ingest.close()

    app = FastAPI(
        lifespan=lifespan,
        title="nps-hub",
        version=__version__,
        docs_url=None,  # web.docs: Swagger UI from the hub's own files
        redoc_url=None,
        description="Management hub for nps-sensor appliances: sensors, quick actions, configuration, "
        "merged inventory and traffic.",
    )
    app.state.hub = hub
    _handlers(app)
    app.include_router(api.router)
    app.include_router(agent_api.router)
    app.include_router(updates.router)
    web.add_ui(app)
    app.add_middleware(limits.BodyLimits)
    app.add_middleware(headers.SecurityHeaders)
    return app
