"""An API fuzz of `ptune serve` from its own OpenAPI schema, with Schemathesis.

Schemathesis makes requests from /openapi.json, valid ones and invalid ones (wrong types, missing
and extra fields, odd strings and numbers), sends them to a real server on loopback, and checks
each answer: no 5xx, a status and a JSON body the schema documents, the documented content type.
`make test` runs a fixed, seeded budget; `PTUNE_FUZZ_EXAMPLES=2000 pytest tests/serve/test_api_fuzz.py`
a longer one.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ptune.engine.bank import AdapterBank
from test_serve import real_server

EXAMPLES = int(os.environ.get("PTUNE_FUZZ_EXAMPLES", "60"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_backbone_dir):
    from conftest import build_tiny_model, save_random_adapter

    backbone = build_tiny_model("bert")
    folder = tmp_path_factory.mktemp("fuzz-adapters")
    adapters = {"sst2": save_random_adapter(backbone, tiny_backbone_dir, folder / "sst2", task="classification",
                                            injection="deep", placement="prefix", k=4, seed=0),
                "rte": save_random_adapter(backbone, tiny_backbone_dir, folder / "rte", task="classification",
                                           injection="input", placement="prefix", k=4, seed=1, inputs="pair")}
    bank = AdapterBank.from_adapters(adapters, model_name=str(tiny_backbone_dir))
    with real_server(bank, max_inputs_per_request=16, max_chars_per_input=500, max_body_bytes=20_000) as port:
        yield f"http://127.0.0.1:{port}", bank


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_answer_to_generated_requests_is_documented_and_never_a_5xx(server, mode):
    url, _ = server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures, answered = [], Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        def each(case):
            if operation.path == "/v1/predict" and mode == "positive" and sum(answered.values()) % 2:
                case.body["task"] = "sst2"  # half the valid requests name a loaded task, to reach the model
            response = case.call()
            answered[(operation.path, response.status_code)] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as err:  # collected, so one run reports every kind of failure
                failures.append(f"{case.method} {case.path} {case.body!r:.200}: {err}")

        try:
            each()
        except Unsatisfiable:  # no invalid request exists for an operation that takes no input
            assert mode == "negative" and operation.path != "/v1/predict"
    print(f"{mode}: {sum(answered.values())} requests; answers {dict(sorted(answered.items()))}")
    assert not failures, "\n".join(failures[:10])
    assert all(status < 500 for _, status in answered)
    assert sum(n for (path, _), n in answered.items() if path == "/v1/predict") >= min(EXAMPLES, 20)
    if mode == "positive":
        assert answered[("/v1/predict", 200)] > 0  # valid requests reached the model and were answered
