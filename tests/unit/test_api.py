import httpx
import pytest
import respx

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.clock import Deadline
from ckaction.errors import (
    MalformedResponse,
    NotFound,
    ServerError,
    TransportError,
    Unauthorized,
    UncertainOutcome,
    Unprocessable,
)
from ckaction.redact import Redactor

ROOT = "https://ck.test/orgs/acme/api/v1"
TOKEN = "ck-live-abcdef123456"
RUN = {"id": 5, "status": "running"}


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps):
    http = build_http_client(ROOT, TOKEN)
    yield CompletionKitClient(http, redact=Redactor([TOKEN]), sleep=sleeps.append)
    http.close()


@respx.mock
def test_requests_carry_bearer_token_user_agent_and_timeouts(client):
    route = respx.get(f"{ROOT}/runs/5").respond(json=RUN)
    assert client.get_run(5).status == "running"
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("ckaction/")
    assert request.extensions["timeout"] == {
        "connect": 10.0,
        "read": 30.0,
        "write": 30.0,
        "pool": 10.0,
    }


@respx.mock
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_reads_retry_transient_statuses_with_backoff(client, sleeps, status):
    route = respx.get(f"{ROOT}/runs/5").mock(
        side_effect=[httpx.Response(status, json={"error": "x"}), httpx.Response(200, json=RUN)]
    )
    assert client.get_run(5).id == 5
    assert route.call_count == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 30


@respx.mock
def test_retry_after_is_honoured(client, sleeps):
    respx.get(f"{ROOT}/runs/5").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json=RUN),
        ]
    )
    client.get_run(5)
    assert sleeps == [7.0]


@respx.mock
def test_reads_give_up_after_the_attempt_budget(client, sleeps):
    route = respx.get(f"{ROOT}/runs/5").respond(503, json={"error": "down"})
    with pytest.raises(ServerError) as caught:
        client.get_run(5)
    assert route.call_count == 6
    assert "503" in caught.value.message


@respx.mock
def test_read_timeouts_are_retried_for_reads(client):
    route = respx.get(f"{ROOT}/runs/5").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=RUN)]
    )
    client.get_run(5)
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize(
    "fault", [httpx.Response(502), httpx.Response(503), httpx.Response(504), httpx.ReadTimeout("t")]
)
def test_create_is_never_blindly_retried_after_it_may_have_landed(client, fault):
    route = respx.post(f"{ROOT}/runs").mock(side_effect=[fault, httpx.Response(201, json=RUN)])
    with pytest.raises(UncertainOutcome):
        client.create_run({"prompt_id": 1})
    assert route.call_count == 1


@respx.mock
def test_create_is_retried_after_a_429_refusal_and_a_connect_error(client):
    route = respx.post(f"{ROOT}/runs").mock(
        side_effect=[
            httpx.Response(429, json={"error": "Rate limit exceeded"}),
            httpx.ConnectError("refused"),
            httpx.Response(201, json=RUN),
        ]
    )
    assert client.create_run({"prompt_id": 1}).id == 5
    assert route.call_count == 3


@respx.mock
def test_generate_after_uncertain_502_raises_uncertain(client):
    respx.post(f"{ROOT}/runs/5/generate").respond(502)
    with pytest.raises(UncertainOutcome):
        client.generate(5)


@respx.mock
def test_401_names_the_token_and_never_echoes_it(client):
    respx.get(f"{ROOT}/runs/5").respond(401, json={"error": f"Unauthorized token {TOKEN}"})
    with pytest.raises(Unauthorized) as caught:
        client.get_run(5)
    assert "api-token" in caught.value.hint
    assert TOKEN not in caught.value.message + caught.value.hint
    assert "***" in caught.value.message


@respx.mock
def test_404_names_the_id(client):
    respx.get(f"{ROOT}/prompts/77").respond(404, json={"error": "Record not found"})
    with pytest.raises(NotFound) as caught:
        client.get_prompt(77)
    assert "prompt 77" in caught.value.message


@respx.mock
def test_422_shows_the_api_details(client):
    respx.post(f"{ROOT}/runs").respond(
        422, json={"error": "Validation failed", "details": {"dataset": ["is missing columns"]}}
    )
    with pytest.raises(Unprocessable) as caught:
        client.create_run({"prompt_id": 1})
    assert "is missing columns" in caught.value.message


@respx.mock
def test_malformed_json_is_an_error_not_a_crash(client):
    respx.get(f"{ROOT}/runs/5").respond(200, text="<html>oops")
    with pytest.raises(MalformedResponse):
        client.get_run(5)
    respx.get(f"{ROOT}/runs/6").respond(200, json={"unexpected": True})
    with pytest.raises(MalformedResponse):
        client.get_run(6)


@respx.mock
def test_connection_failures_after_retries_name_the_api(client):
    respx.get(f"{ROOT}/runs/5").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as caught:
        client.get_run(5)
    assert "api-url" in caught.value.hint


@respx.mock
def test_pagination_follows_total_count(client):
    def page(request):
        offset = int(request.url.params["offset"])
        items = [{"id": i, "status": "completed"} for i in range(offset, min(offset + 500, 1200))]
        return httpx.Response(200, json=items, headers={"X-Total-Count": "1200", "X-Limit": "500"})

    route = respx.get(f"{ROOT}/runs").mock(side_effect=page)
    runs = list(client.list_runs(prompt_id=3))
    assert [r.id for r in runs] == list(range(1200))
    assert route.call_count == 3
    assert route.calls[0].request.url.params["prompt_id"] == "3"


@respx.mock
def test_403_and_an_exhausted_429_say_what_to_fix(client):
    from ckaction.errors import Forbidden, RateLimited

    respx.get(f"{ROOT}/runs/1").respond(403, json={"error": "Forbidden"})
    with pytest.raises(Forbidden) as forbidden:
        client.get_run(1)
    assert "token" in forbidden.value.hint
    respx.get(f"{ROOT}/runs/2").respond(429, json={"error": "Rate limit exceeded"})
    with pytest.raises(RateLimited) as limited:
        client.get_run(2)
    assert "429" in limited.value.message


@respx.mock
def test_retries_never_outlast_the_steps_timeout(sleeps):
    route = respx.get(f"{ROOT}/runs/5").respond(503, json={"error": "down"})
    spent = Deadline(at=0.0, clock=lambda: 1.0)
    client = CompletionKitClient(
        build_http_client(ROOT, TOKEN), sleep=sleeps.append, deadline=spent
    )
    with pytest.raises(ServerError):
        client.get_run(5)
    assert route.call_count == 1 and sleeps == []
