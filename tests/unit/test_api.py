import httpx
import pytest
import respx

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.clock import Deadline
from ckaction.emulator import Emulator, EmulatorTransport
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
EMU_TOKEN = "ck-test-token"
EMU_ROOT = "http://emulator.test/orgs/acme/api/v1"


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


# -- writing prompts and run tags, over the emulator in process --------------------------------


@pytest.fixture
def emu():
    return Emulator(token=EMU_TOKEN, org="acme")


@pytest.fixture
def ck(emu):
    http = build_http_client(
        EMU_ROOT, EMU_TOKEN, transport=EmulatorTransport(emu), timeout=httpx.Timeout(5.0)
    )
    yield CompletionKitClient(http, sleep=lambda _: None)
    http.close()


def _pending_run(emu, prompt_id):
    dataset = emu.add_dataset("d", [{"x": "1", "expected_output": "y"}])
    metric = emu.add_metric("Quality", "llm_judge", "Rate quality.")
    run = emu.create_run(
        {"prompt_id": prompt_id, "dataset_id": dataset["id"], "metric_ids": [metric["id"]]}
    )
    return run["id"]


def test_create_prompt_starts_a_tagged_family(emu, ck):
    live = emu.add_prompt("Support reply", "v1 {{x}}")
    created = ck.create_prompt(
        "Support reply [ckaction candidate 0123456789ab]",
        "v2 {{x}}",
        "gpt-4o-mini",
        description="scratch",
        tag_names=["ckaction-candidate"],
    )
    assert (created.version_number, created.current) == (1, True)
    assert created.family_key != live["family_key"]
    stored = emu.get_prompt(created.id)
    assert (stored["template"], stored["description"]) == ("v2 {{x}}", "scratch")
    assert [t["name"] for t in stored["tags"]] == ["ckaction-candidate"]
    assert emu.requests[-1].body == {
        "name": "Support reply [ckaction candidate 0123456789ab]",
        "template": "v2 {{x}}",
        "llm_model": "gpt-4o-mini",
        "description": "scratch",
        "tag_names": ["ckaction-candidate"],
    }


def test_create_prompt_sends_only_what_it_was_given(emu, ck):
    ck.create_prompt("P", "t {{x}}", "gpt-4o-mini")
    assert emu.requests[-1].body == {"name": "P", "template": "t {{x}}", "llm_model": "gpt-4o-mini"}


def test_create_prompt_names_what_the_engine_refused(ck):
    with pytest.raises(Unprocessable) as caught:
        ck.create_prompt("P", "", "text-embedding-3-small")
    assert "can't be blank" in caught.value.message
    assert "not available for generating" in caught.value.message


def test_update_prompt_with_a_run_answers_the_new_published_version(emu, ck):
    live = emu.add_prompt("P", "v1 {{x}}")
    anchor = _pending_run(emu, live["id"])
    new = ck.update_prompt(live["id"], template="v2 {{x}}", description="why")
    assert new.id != live["id"]
    assert (new.version_number, new.current, new.family_key) == (2, True, live["family_key"])
    assert emu.get_prompt(live["id"])["template"] == "v1 {{x}}"
    assert emu.get_prompt(live["id"])["current"] is False
    ck.delete_run(anchor)
    assert emu.list_runs().total == 0


def test_update_prompt_without_runs_edits_in_place(emu, ck):
    live = emu.add_prompt("P", "v1 {{x}}")
    same = ck.update_prompt(live["id"], template="v2 {{x}}")
    assert (same.id, same.version_number, same.current) == (live["id"], 1, True)
    assert emu.get_prompt(live["id"])["template"] == "v2 {{x}}"


def test_update_prompt_reads_a_draft_from_an_engine_that_drafts(emu, ck):
    emu.prompt_patch_drafts = True
    live = emu.add_prompt("P", "v1 {{x}}")
    _pending_run(emu, live["id"])
    draft = ck.update_prompt(live["id"], template="v2 {{x}}")
    assert (draft.version_number, draft.current) == (2, False)
    assert ck.publish_prompt(draft.id).current is True


def test_update_prompt_refuses_fields_the_engine_would_drop(emu, ck):
    live = emu.add_prompt("P", "v1 {{x}}")
    with pytest.raises(ValueError, match="model"):
        ck.update_prompt(live["id"], model="gpt-4o")
    assert emu.requests == []


def test_set_run_tags_replaces_them_downcased(emu, ck):
    prompt = emu.add_prompt("P", "v1 {{x}}")
    run_id = _pending_run(emu, prompt["id"])
    emu.update_run(run_id, {"tag_names": ["ckaction-gate"]})
    tagged = ck.set_run_tags(run_id, ["ckaction-gate", "CKaction-Passed"])
    assert tagged.tag_names == ["ckaction-gate", "ckaction-passed"]
    assert ck.set_run_tags(run_id, []).tag_names == []
    with pytest.raises(NotFound):
        ck.set_run_tags(999, ["x"])


def test_delete_run_deletes_a_pending_run_and_a_missing_one_is_already_gone(emu, ck):
    prompt = emu.add_prompt("P", "v1 {{x}}")
    run_id = _pending_run(emu, prompt["id"])
    ck.delete_run(run_id)
    assert emu.list_runs().total == 0
    ck.delete_run(run_id)  # 404: gone already
    assert [r.status for r in emu.requests] == [204, 404]


@respx.mock
@pytest.mark.parametrize(
    "fault", [httpx.Response(502), httpx.Response(500), httpx.ReadTimeout("t")]
)
def test_prompt_writes_are_never_blindly_retried_after_they_may_have_landed(client, fault):
    create = respx.post(f"{ROOT}/prompts").mock(side_effect=[fault, httpx.Response(201)])
    update = respx.patch(f"{ROOT}/prompts/3").mock(side_effect=[fault, httpx.Response(200)])
    with pytest.raises(UncertainOutcome):
        client.create_prompt("P", "t", "m")
    with pytest.raises(UncertainOutcome):
        client.update_prompt(3, template="t")
    assert (create.call_count, update.call_count) == (1, 1)


@respx.mock
def test_prompt_writes_are_retried_after_a_429_refusal(client, sleeps):
    prompt = {"id": 3, "version_number": 2, "current": True}
    route = respx.patch(f"{ROOT}/prompts/3").mock(
        side_effect=[
            httpx.Response(429),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=prompt),
        ]
    )
    assert client.update_prompt(3, template="t").version_number == 2
    assert route.call_count == 3 and len(sleeps) == 2


@respx.mock
@pytest.mark.parametrize(
    "fault", [httpx.Response(502), httpx.Response(503), httpx.ReadTimeout("t")]
)
def test_run_tags_and_deletes_are_retried_like_reads(client, fault):
    tags = respx.patch(f"{ROOT}/runs/5").mock(
        side_effect=[
            fault,
            httpx.Response(200, json={**RUN, "tags": [{"name": "ckaction-passed"}]}),
        ]
    )
    delete = respx.delete(f"{ROOT}/runs/5").mock(side_effect=[fault, httpx.Response(204)])
    assert client.set_run_tags(5, ["ckaction-passed"]).tag_names == ["ckaction-passed"]
    client.delete_run(5)
    assert (tags.call_count, delete.call_count) == (2, 2)


@respx.mock
def test_a_delete_whose_first_answer_was_lost_is_done(client):
    route = respx.delete(f"{ROOT}/runs/5").mock(
        side_effect=[
            httpx.ReadTimeout("t"),
            httpx.Response(404, json={"error": "Record not found"}),
        ]
    )
    client.delete_run(5)
    assert route.call_count == 2
