"""The HTTP API (FastAPI): predictions for any loaded task, the task list, health and metrics.

    POST /v1/predict   {"task": "sst2", "inputs": ["a fine film", ...]}   (pairs: [["premise", "hypothesis"]])
    GET  /v1/tasks     each task, its labels and the input form it takes
    GET  /healthz      liveness and queue depth
    GET  /metrics      Prometheus text
    GET  /             the playground page (self-contained HTML; it calls the API above)

With `--api-key-file`, every endpoint but /healthz needs `Authorization: Bearer <key>` (401
otherwise); every response carries the request's id in `X-Request-ID` (ptune.serve.access).

Every bad request gets a 4xx JSON body {"error": {"kind": ..., "message": ...}} that says what
was wrong; requests are checked before they reach the queue, so bad input never slows others.
"""
from __future__ import annotations

import json
import logging
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ptune.data.examples import unicode_problem
from ptune.engine.entries import BankBase, BankEntry
from ptune.serve.access import ApiKeys, RequestGate, cors_origins
from ptune.serve.batcher import MicroBatcher, QueueFull, ShuttingDown
from ptune.serve.config import ServeConfig
from ptune.serve.metrics import ServerMetrics
from ptune.serve.watcher import AdapterDirWatcher
from ptune.tasks.input_forms import INPUT_FORMS

log = logging.getLogger("ptune.serve")


# The request and response shapes, published in /openapi.json. The body is read and checked by
# hand (check_request) so that every mistake gets its own message; the schema says the same.
TEXT = {"type": "string", "minLength": 1}
PREDICT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["task", "inputs"], "additionalProperties": False,
        "properties": {
            "task": {"type": "string", "description": "a loaded task's name (GET /v1/tasks)"},
            "inputs": {"type": "array", "minItems": 1, "items": {"anyOf": list(
                {json.dumps(form.schema(), sort_keys=True): form.schema() for form in INPUT_FORMS.values()}.values())}},
        }}}},
}
ERROR_BODY = {"content": {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["kind", "message"],
                             "properties": {"kind": {"type": "string"}, "message": {"type": "string"}}}}}}}}
ERRORS = {str(code): {"description": why, **ERROR_BODY} for code, why in (
    (400, "not UTF-8, not JSON, or JSON the parser cannot take"), (404, "no such task"),
    (408, "the body did not arrive in time"), (413, "too large: body, inputs, or an input"),
    (415, "not sent as application/json"), (422, "valid JSON, but not a request for this task"),
    (500, "an unforeseen failure, logged"), (503, "queue full or shutting down; retry after Retry-After"))}
NUMBER, STRING, INTEGER = {"type": "number"}, {"type": "string"}, {"type": "integer"}
OPTIONAL_INTEGER = {"anyOf": [INTEGER, {"type": "null"}]}
CLASSIFICATION = {"title": "Classification", "type": "object", "required": ["label", "probabilities"],
                  "properties": {"label": STRING, "probabilities": {"type": "object", "additionalProperties": NUMBER,
                                                                     "description": "label name -> probability"}}}
ENTITY = {"type": "object", "required": ["type", "words", "score", "text"],
          "properties": {"type": STRING, "words": {"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2,
                                                  "description": "first word, one past the last"},
                         "score": NUMBER, "text": STRING, "start": INTEGER, "end": INTEGER}}
ENTITIES = {"title": "Entities", "type": "object", "required": ["entities", "tags"],
            "properties": {"entities": {"type": "array", "items": ENTITY}, "tags": {"type": "array", "items": STRING}}}
SPAN = {"type": "object", "required": ["text", "start", "end", "score"],
        "properties": {"text": STRING, "start": INTEGER, "end": INTEGER, "score": NUMBER}}
ANSWER = {"title": "Answer", "type": "object", "required": ["answer", "start", "end", "score", "no_answer"],
          "properties": {"answer": STRING, "start": OPTIONAL_INTEGER, "end": OPTIONAL_INTEGER, "score": NUMBER,
                         "no_answer": {"type": "boolean"},
                         "no_answer_score": {"anyOf": [NUMBER, {"type": "null"}]},
                         "best_span": {"anyOf": [SPAN, {"type": "null"}]}}}
PREDICT_RESPONSES = {"200": {"description": "one prediction per input, in input order", "content": {"application/json": {
    "schema": {"type": "object", "required": ["task", "predictions"],
               "properties": {"task": STRING, "predictions": {"type": "array", "items": {
                   "anyOf": [CLASSIFICATION, ENTITIES, ANSWER]}}}}}}},
    **ERRORS}
TASK_INFO = {"type": "object", "required": ["name", "task", "labels", "input", "injection", "virtual_tokens",
                                            "max_length", "dev_metrics", "input_help", "input_fields"],
             "properties": {"name": STRING, "task": {"type": "string", "enum": ["classification", "token_classification",
                                                                                "question_answering"]},
                            "labels": {"type": "array", "items": STRING}, "input": {"type": "string", "enum": list(INPUT_FORMS)},
                            "injection": STRING, "virtual_tokens": INTEGER, "max_length": INTEGER,
                            "dev_metrics": {"type": "object", "additionalProperties": NUMBER}, "input_help": STRING,
                            "input_fields": {"type": "object", "description": "how the playground builds an input "
                                                                              "(ptune.tasks.input_forms)"}}}
TASKS_RESPONSES = {"200": {"description": "the loaded tasks and the backbone they share", "content": {"application/json": {
    "schema": {"type": "object", "required": ["tasks", "backbone"],
               "properties": {"tasks": {"type": "array", "items": TASK_INFO},
                              "backbone": {"type": "object", "required": ["name", "fingerprint"],
                                           "properties": {"name": {"anyOf": [STRING, {"type": "null"}]},
                                                          "fingerprint": STRING}}}}}}}}
HEALTH_RESPONSES = {"200": {"description": "alive; tasks loaded and inputs waiting", "content": {"application/json": {
    "schema": {"type": "object", "required": ["status", "tasks", "queue_depth"],
               "properties": {"status": {"type": "string", "enum": ["ok"]}, "tasks": INTEGER, "queue_depth": INTEGER,
                              "worker": {"anyOf": [INTEGER, STRING], "description": "under --workers or Ray"},
                              "pid": INTEGER}}}}}}


class RequestError(Exception):
    def __init__(self, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers or {}


def error_response(error: RequestError) -> JSONResponse:
    return JSONResponse({"error": {"kind": error.kind, "message": error.message}}, status_code=error.status,
                        headers=error.headers)


async def read_json_body(request: Request, config: ServeConfig):
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "unsupported_media_type",
                           f"content type {content_type or '(none)'!r}: send the body as JSON with "
                           "'Content-Type: application/json'")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > config.max_body_bytes:
        raise RequestError(413, "body_too_large", f"the body has {declared} bytes; the limit is {config.max_body_bytes}: "
                                                  "send fewer or shorter inputs per request")
    body = bytearray()

    async def receive_all() -> None:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > config.max_body_bytes:
                raise RequestError(413, "body_too_large", f"the body exceeds the limit of {config.max_body_bytes} "
                                                          "bytes: send fewer or shorter inputs per request")

    try:
        with anyio.fail_after(config.body_timeout_seconds):  # in this task: no new task reads the stream
            await receive_all()
    except TimeoutError:
        raise RequestError(408, "body_timeout", f"the body did not arrive within {config.body_timeout_seconds:g} s "
                                                f"({len(body)} bytes came, Content-Length said {declared or '?'}); "
                                                "send the whole body promptly") from None
    return parse_json(bytes(body))


def parse_json(body: bytes):
    """The request body as JSON, or a 400 naming the problem: not UTF-8, not JSON, nested too
    deeply for the parser, or a number too long to read (Python refuses over 4,300 digits)."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(400, "invalid_json", f"the body is not UTF-8 ({err})") from None
    except json.JSONDecodeError as err:
        raise RequestError(400, "invalid_json", f"the body is not valid JSON: {err}") from None
    except RecursionError:
        raise RequestError(400, "invalid_json", "the body's JSON is nested too deeply; a request is "
                                                '{"task": ..., "inputs": [...]}') from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise RequestError(400, "invalid_json", f"the body's JSON holds a value that cannot be read: {err}") from None


def request_id_of(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "-")


def check_request(payload, bank: BankBase, config: ServeConfig) -> tuple[BankEntry, list]:
    """The request's task entry and inputs, or a RequestError saying exactly what is wrong."""
    if not isinstance(payload, dict):
        raise RequestError(422, "invalid_request", 'expected a JSON object {"task": ..., "inputs": [...]}, '
                                                   f"got {type(payload).__name__}")
    unknown = sorted(set(payload) - {"task", "inputs"})
    if unknown:
        raise RequestError(422, "invalid_request", f"unknown field(s) {unknown}; a request has 'task' and 'inputs'")
    task, inputs = payload.get("task"), payload.get("inputs")
    if not isinstance(task, str):
        raise RequestError(422, "invalid_request", f"'task' must be a string naming a loaded task, got {task!r}")
    entry = bank.get(task)
    if entry is None:
        raise RequestError(404, "unknown_task", f"no task named {task!r}; loaded: {sorted(bank.entries())} "
                                                "(GET /v1/tasks lists them)")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(422, "invalid_request", "'inputs' must be a non-empty list of inputs")
    if len(inputs) > config.max_inputs_per_request:
        raise RequestError(413, "too_many_inputs", f"{len(inputs)} inputs; the limit is "
                                                   f"{config.max_inputs_per_request} per request: split the request")
    form = entry.input_form
    for i, item in enumerate(inputs):
        texts = check_input_form(item, form, task, i)
        for text in texts:
            problem = unicode_problem(text)
            if problem:
                raise RequestError(422, "invalid_text", f"inputs[{i}] {problem}")
            if not text.strip():
                raise RequestError(422, "empty_input", f"inputs[{i}] is empty or whitespace; there is nothing to predict")
            if len(text) > config.max_chars_per_input:
                raise RequestError(413, "input_too_long", f"inputs[{i}] has {len(text)} characters; the limit is "
                                                          f"{config.max_chars_per_input}: shorten or split it")
    return entry, inputs


def check_input_form(item, form: str, task: str, i: int) -> list[str]:
    """The texts of one request input, read as the task's input form declares it."""
    texts = INPUT_FORMS[form].texts(item)
    if texts is None:
        raise RequestError(422, "wrong_input_form", f"inputs[{i}]: task {task!r} takes {INPUT_FORMS[form].help}, "
                                                    f"got {json.dumps(item)[:80]}")
    return texts


def create_app(bank: BankBase, config: ServeConfig | None = None, *, fixed_names: set[str] | None = None,
               worker: int | str | None = None, batcher=None, echo_request_id: bool = True,
               worker_restarts=None) -> FastAPI:
    """`worker`: this process's index under `--workers` or its Ray Serve replica id (said in
    /healthz), None for a single server. `batcher(bank, config, on_batch)`: what batches the inputs
    of concurrent requests (default: ptune's MicroBatcher; the Ray backend: Ray Serve's @serve.batch);
    it has `depth`, `async run(entry, features)` and `stop()`. `echo_request_id=False` behind a proxy
    that sends X-Request-ID back itself (Ray Serve's). `worker_restarts()`: workers restarted so far
    (under --workers), reported in /metrics."""
    config = (config or ServeConfig()).for_device(bank.device)
    metrics = ServerMetrics()
    state: dict = {}
    make_batcher = batcher or MicroBatcher

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["batcher"] = make_batcher(bank, config, on_batch=metrics.observe_batch)
        if config.adapter_dir:
            state["watcher"] = AdapterDirWatcher(
                bank, config.adapter_dir, poll_seconds=config.poll_seconds,
                fixed_names=fixed_names if fixed_names is not None else set(bank.entries()),
                on_error=lambda name, message: metrics.errors.labels(kind="adapter_load").inc())
            await anyio.to_thread.run_sync(state["watcher"].start)
        metrics.tasks.set_function(lambda: len(bank))
        if worker_restarts is not None:
            metrics.worker_restarts.set_function(worker_restarts)
        metrics.queue.set_function(lambda: state["batcher"].depth)
        yield
        # Graceful shutdown: the server has stopped accepting connections and finished in-flight
        # requests by now; stop the watcher and let the batcher drain what is still queued.
        if "watcher" in state:
            state["watcher"].stop()
        await anyio.to_thread.run_sync(state["batcher"].stop)

    # FastAPI's own /docs and /redoc load their scripts from a CDN: ptune serves its own page instead.
    app = FastAPI(title="ptune", summary="P-tuned task adapters on one frozen backbone", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.bank, app.state.config, app.state.metrics = bank, config, metrics
    keys = ApiKeys(config.api_key_file) if config.api_key_file else None
    app.add_middleware(RequestGate, keys=keys, access_log=config.access_log, echo_id=echo_request_id,
                       on_refused=lambda: metrics.errors.labels(kind="unauthorized").inc())
    origins = cors_origins(config.cors_origins)
    if origins:  # outermost: a browser's preflight is answered before the key check
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "HEAD"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "Retry-After"], allow_credentials=False)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError):
        metrics.errors.labels(kind=error.kind).inc()
        return error_response(error)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):
        # Anything unforeseen is still a JSON body and still counted; the traceback goes to the log.
        log.error("%s %s %s failed: %s: %s", request_id_of(request), request.method, request.url.path,
                  type(error).__name__, error)
        metrics.errors.labels(kind="internal").inc()
        return JSONResponse({"error": {"kind": "internal", "message": f"the server failed on this request "
                                       f"({type(error).__name__}); it is logged"}}, status_code=500)

    @app.exception_handler(404)
    async def not_found(request: Request, exc):
        metrics.errors.labels(kind="not_found").inc()
        return JSONResponse({"error": {"kind": "not_found", "message": f"no endpoint {request.method} {request.url.path}; "
                                       "endpoints: POST /v1/predict, GET /v1/tasks, GET /healthz, GET /metrics, GET / (playground)"}},
                            status_code=404)

    @app.exception_handler(405)
    async def wrong_method(request: Request, exc):
        metrics.errors.labels(kind="method_not_allowed").inc()
        return JSONResponse({"error": {"kind": "method_not_allowed",
                                       "message": f"{request.method} is not allowed on {request.url.path}"}},
                            status_code=405)

    @app.post("/v1/predict", openapi_extra={"requestBody": PREDICT_BODY, "responses": PREDICT_RESPONSES})
    async def predict(request: Request):
        started = time.perf_counter()
        payload = await read_json_body(request, config)
        entry, inputs = check_request(payload, bank, config)
        examples = bank.examples(entry, inputs)
        features = await anyio.to_thread.run_sync(bank.features, entry, examples)
        try:
            logits = await state["batcher"].run(entry, features)
        except QueueFull:
            waiting = state["batcher"].depth
            raise RequestError(503, "queue_full", f"the queue is full ({waiting} inputs waiting; with this request's "
                                                  f"{len(features)} it would pass its limit of {config.max_queue}); "
                                                  f"retry after {config.retry_after_seconds} s",
                               headers={"Retry-After": str(config.retry_after_seconds)}) from None
        except ShuttingDown:
            raise RequestError(503, "shutting_down", "the server is shutting down; retry on another instance",
                               headers={"Retry-After": str(config.retry_after_seconds)}) from None
        except Exception as err:
            log.exception("%s prediction failed for task %r", request_id_of(request), entry.name)
            metrics.errors.labels(kind="internal").inc()
            return JSONResponse({"error": {"kind": "internal", "message": f"prediction failed: {err}"}},
                                status_code=500)
        # Off the event loop: decoding is CPU work, and its first call may import a metrics
        # library (seqeval for entities) that would stall every other request meanwhile.
        predictions = await anyio.to_thread.run_sync(bank.decode, entry, logits, examples, features)
        metrics.observe_request(entry.name, len(inputs), time.perf_counter() - started)
        return {"task": entry.name, "predictions": predictions}

    playground = (Path(__file__).parent / "playground.html").read_text(encoding="utf-8")
    api_docs = (Path(__file__).parent / "docs.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        """The playground: pick a task, type inputs, see labels, entities or the answer."""
        return HTMLResponse(playground)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs_page():
        """The API's endpoints and shapes, read from /openapi.json; no script from anywhere else."""
        return HTMLResponse(api_docs)

    @app.get("/v1/tasks", responses=TASKS_RESPONSES)
    async def tasks():
        return {"tasks": [entry.describe() | {"input_help": INPUT_FORMS[entry.input_form].help,
                                              "input_fields": INPUT_FORMS[entry.input_form].describe()}
                          for entry in bank.entries().values()],
                "backbone": {"name": bank.backbone_name, "fingerprint": bank.fingerprint}}

    @app.get("/healthz", responses=HEALTH_RESPONSES)
    async def healthz():
        batcher = state.get("batcher")
        health = {"status": "ok", "tasks": len(bank), "queue_depth": batcher.depth if batcher else 0}
        return health if worker is None else {**health, "worker": worker, "pid": os.getpid()}

    # Load balancers and uptime checks ask with HEAD.
    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    @app.get("/metrics", response_class=Response,
             responses={200: {"description": "Prometheus text", "content": {"text/plain": {}}}})
    async def prometheus():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app
