"""Prompts: lookup by id / family_key / name / slug, publish, PATCH versioning, delete."""

from __future__ import annotations

from typing import Any

import httpx

from ckaction.emulator import Emulator
from tests.emulator.conftest import MakeRun


def test_create_prompt(client: httpx.Client) -> None:
    created = client.post(
        "prompts",
        json={"name": "Summarize", "template": "Sum: {{text}}", "llm_model": "gpt-4o-mini"},
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["version_number"], body["current"]) == (1, True)
    assert len(body["family_key"]) == 36
    assert set(body) == {
        "id",
        "name",
        "description",
        "template",
        "llm_model",
        "family_key",
        "version_number",
        "current",
        "created_at",
        "updated_at",
        "tags",
    }
    invalid = client.post("prompts", json={"name": "x", "llm_model": "text-embedding-3-small"})
    assert invalid.status_code == 422
    details = invalid.json()["details"]
    assert details["template"] == ["can't be blank"]
    assert details["llm_model"] == ["is not available for generating responses"]


def test_lookup_by_id_family_key_name_and_slug(emu: Emulator, client: httpx.Client) -> None:
    v1 = emu.add_prompt("Support Reply (EN)", "v1 {{text}}")
    v2 = emu.add_prompt(
        "Support Reply (EN)", "v2 {{text}}", family_key=v1["family_key"], current=False
    )
    assert v2["version_number"] == 2
    assert client.get(f"prompts/{v2['id']}").json()["id"] == v2["id"]  # numeric → that row
    for ident in (v1["family_key"], "Support Reply (EN)", "support-reply-en"):
        found = client.get(f"prompts/{ident}")
        assert found.status_code == 200, ident
        assert found.json()["id"] == v1["id"], ident  # the family's current version
    assert client.get("prompts/no-such-prompt").status_code == 404
    assert client.get("prompts/999").json() == {"error": "Record not found"}

    published = client.post(f"prompts/{v2['id']}/publish")
    assert published.status_code == 200
    assert published.json()["current"] is True
    assert client.get("prompts/support-reply-en").json()["id"] == v2["id"]
    assert client.get(f"prompts/{v1['id']}").json()["current"] is False
    assert client.post("prompts/999/publish").status_code == 404


def test_patch_without_runs_edits_in_place_and_erases_the_previous_content(
    emu: Emulator, client: httpx.Client
) -> None:
    prompt = emu.add_prompt("P", "old {{text}}")
    patched = client.patch(f"prompts/{prompt['id']}", json={"template": "new {{text}}"})
    assert patched.status_code == 200
    assert patched.json()["id"] == prompt["id"]
    assert patched.json()["template"] == "new {{text}}"
    assert (patched.json()["version_number"], patched.json()["current"]) == (1, True)
    family = client.get("prompts").json()
    assert [(p["id"], p["template"]) for p in family] == [(prompt["id"], "new {{text}}")]


def test_patch_with_a_pending_run_publishes_a_new_version_and_keeps_the_old_row(
    client: httpx.Client, basic: dict[str, Any], make_run: MakeRun
) -> None:
    prompt = basic["prompt"]
    anchor = make_run()  # created, never generated: pending, free
    assert anchor["status"] == "pending"
    answer = client.patch(
        f"prompts/{prompt['id']}", json={"template": "Answer: {{text}}", "llm_model": "gpt-4o"}
    )
    assert answer.status_code == 200
    new = answer.json()
    assert new["id"] != prompt["id"]
    assert (new["version_number"], new["current"]) == (2, True)
    assert (new["family_key"], new["name"]) == (prompt["family_key"], prompt["name"])
    assert (new["template"], new["llm_model"]) == ("Answer: {{text}}", "gpt-4o")
    old = client.get(f"prompts/{prompt['id']}").json()
    assert (old["template"], old["llm_model"]) == (prompt["template"], prompt["llm_model"])
    assert (old["version_number"], old["current"]) == (1, False)
    assert client.get(f"prompts/{prompt['family_key']}").json()["id"] == new["id"]
    assert client.get(f"runs/{anchor['id']}").json()["prompt_id"] == prompt["id"]


def test_patch_with_runs_makes_a_version_whatever_it_changes(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    """`@prompt.runs.exists?` is the engine's only test: a description alone is a new version."""
    prompt = basic["prompt"]
    emu.add_completed_run(prompt["id"], basic["dataset"]["id"], [basic["metric"]["id"]])
    new = client.patch(f"prompts/{prompt['id']}", json={"description": "notes"}).json()
    assert (new["version_number"], new["current"], new["description"]) == (2, True, "notes")
    assert new["template"] == prompt["template"]
    # The new row has no runs: the next PATCH edits it in place.
    again = client.patch(f"prompts/{new['id']}", json={"template": "Hi {{text}}"}).json()
    assert (again["id"], again["version_number"]) == (new["id"], 2)


def test_patch_drafts_on_an_engine_that_drafts(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any], make_run: MakeRun
) -> None:
    emu.prompt_patch_drafts = True
    prompt = basic["prompt"]
    make_run()
    draft = client.patch(f"prompts/{prompt['id']}", json={"template": "Answer: {{text}}"}).json()
    assert (draft["version_number"], draft["current"]) == (2, False)
    assert client.get(f"prompts/{prompt['family_key']}").json()["id"] == prompt["id"]
    published = client.post(f"prompts/{draft['id']}/publish").json()
    assert published["current"] is True
    assert client.get(f"prompts/{prompt['id']}").json()["current"] is False


def test_patch_after_the_run_is_deleted_edits_in_place(
    client: httpx.Client, basic: dict[str, Any], make_run: MakeRun
) -> None:
    prompt = basic["prompt"]
    anchor = make_run()
    assert client.delete(f"runs/{anchor['id']}").status_code == 204
    assert client.get(f"runs/{anchor['id']}").status_code == 404
    patched = client.patch(f"prompts/{prompt['id']}", json={"template": "x {{text}}"}).json()
    assert (patched["id"], patched["version_number"]) == (prompt["id"], 1)


def test_post_always_starts_a_family_and_permits_only_its_fields(
    emu: Emulator, client: httpx.Client
) -> None:
    live = emu.add_prompt("Support reply", "v1 {{text}}")
    created = client.post(
        "prompts",
        json={
            "name": "Support reply [ckaction candidate 0123456789ab]",
            "template": "v2 {{text}}",
            "llm_model": "gpt-4o-mini",
            "description": "scratch",
            "tag_names": ["ckaction-candidate"],
            "family_key": live["family_key"],  # not permitted: ignored
            "version_number": 7,
            "current": False,
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["family_key"] != live["family_key"]
    assert (body["version_number"], body["current"]) == (1, True)
    assert [t["name"] for t in body["tags"]] == ["ckaction-candidate"]
    assert client.get(f"prompts/{live['id']}").json()["current"] is True
    assert client.get("prompts/support-reply").json()["id"] == live["id"]


def test_list_filters_by_tags_ored_and_pages(emu: Emulator, client: httpx.Client) -> None:
    a = emu.add_prompt("A", "a {{x}}", tag_names=["ckaction-candidate"])
    emu.add_prompt("B", "b {{x}}", tag_names=["other"])
    c = emu.add_prompt("C", "c {{x}}", tag_names=["ckaction-candidate", "team-x"])
    d = emu.add_prompt("D", "d {{x}}", tag_names=["team-y"])
    tagged = client.get("prompts", params={"tag[]": ["ckaction-candidate"]})
    assert [p["id"] for p in tagged.json()] == [c["id"], a["id"]]  # newest first
    assert tagged.headers["X-Total-Count"] == "2"
    either = client.get("prompts", params={"tag[]": ["ckaction-candidate", "team-y"]}).json()
    assert [p["id"] for p in either] == [d["id"], c["id"], a["id"]]
    page = client.get(
        "prompts", params={"tag[]": ["ckaction-candidate", "team-y"], "limit": 2, "offset": 2}
    )
    assert [p["id"] for p in page.json()] == [a["id"]]
    assert (page.headers["X-Total-Count"], page.headers["X-Offset"]) == ("3", "2")


def test_a_route_id_stops_at_the_first_unencoded_dot(emu: Emulator, client: httpx.Client) -> None:
    dotted = emu.add_prompt("gpt-4.1-reply", "dotted {{x}}")
    short = emu.add_prompt("gpt-4", "short {{x}}")
    assert client.get("prompts/gpt-4.1-reply").json()["id"] == short["id"]
    assert client.get("prompts/gpt-4%2E1-reply").json()["id"] == dotted["id"]
    assert client.get("prompts/gpt-4%2e1-reply").json()["id"] == dotted["id"]
    assert client.get(f"prompts/{dotted['id']}.json").json()["id"] == dotted["id"]
    assert client.get("prompts/nothing.here").status_code == 404


def test_an_ambiguous_name_finds_the_newest_current_family(
    emu: Emulator, client: httpx.Client
) -> None:
    emu.add_prompt("Same name", "older {{x}}")
    newer = emu.add_prompt("Same name", "newer {{x}}")
    assert client.get("prompts/Same%20name").json()["id"] == newer["id"]


def test_delete_prompt_deletes_its_runs(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    prompt = basic["prompt"]
    run = emu.add_completed_run(prompt["id"], basic["dataset"]["id"], [basic["metric"]["id"]])
    assert client.delete(f"prompts/{prompt['id']}").status_code == 204
    assert client.get(f"prompts/{prompt['id']}").status_code == 404
    assert client.get(f"runs/{run['id']}").status_code == 404
