"""Prompts: lookup by id / family_key / name / slug, publish, PATCH versioning, delete."""

from __future__ import annotations

from typing import Any

import httpx

from ckaction.emulator import Emulator


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


def test_patch_without_runs_edits_in_place(emu: Emulator, client: httpx.Client) -> None:
    prompt = emu.add_prompt("P", "old {{text}}")
    patched = client.patch(f"prompts/{prompt['id']}", json={"template": "new {{text}}"})
    assert patched.status_code == 200
    assert patched.json()["id"] == prompt["id"]
    assert patched.json()["template"] == "new {{text}}"
    assert patched.json()["version_number"] == 1


def test_patch_with_runs_makes_a_draft_version(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    prompt = basic["prompt"]
    emu.add_completed_run(prompt["id"], basic["dataset"]["id"], [basic["metric"]["id"]])
    renamed = client.patch(f"prompts/{prompt['id']}", json={"description": "notes"}).json()
    assert renamed["id"] == prompt["id"]  # no content change: in place
    draft = client.patch(f"prompts/{prompt['id']}", json={"template": "Answer: {{text}}"}).json()
    assert draft["id"] != prompt["id"]
    assert (draft["version_number"], draft["current"]) == (2, False)
    assert draft["family_key"] == prompt["family_key"]
    assert client.get(f"prompts/{prompt['family_key']}").json()["id"] == prompt["id"]


def test_patch_with_runs_can_publish_when_switched(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    emu.prompt_patch_publishes = True
    prompt = basic["prompt"]
    emu.add_completed_run(prompt["id"], basic["dataset"]["id"], [basic["metric"]["id"]])
    new = client.patch(f"prompts/{prompt['id']}", json={"llm_model": "gpt-4o"}).json()
    assert (new["current"], new["llm_model"]) == (True, "gpt-4o")
    assert client.get(f"prompts/{prompt['id']}").json()["current"] is False


def test_delete_prompt_deletes_its_runs(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    prompt = basic["prompt"]
    run = emu.add_completed_run(prompt["id"], basic["dataset"]["id"], [basic["metric"]["id"]])
    assert client.delete(f"prompts/{prompt['id']}").status_code == 204
    assert client.get(f"prompts/{prompt['id']}").status_code == 404
    assert client.get(f"runs/{run['id']}").status_code == 404
