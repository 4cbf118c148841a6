"""Prompts: families of versions, lookup by id, family key, name or slug, and publishing.

Engine-like, after completion-kit `app/controllers/completion_kit/api/v1/prompts_controller.rb`
and `app/models/completion_kit/prompt.rb` (@57e8f90a): `POST /prompts` starts a family; `PATCH`
on a row with runs clones it as the family's next version and publishes it, on a row without
runs edits it in place; lookup is `Prompt.current_for` (family_key, name, slug among current
versions, newest first).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ckaction.emulator.judging import JsonDict
from ckaction.emulator.records import (
    Errors,
    Page,
    PromptRec,
    Query,
    iso_now,
    not_found,
    parse_ident,
    slugify,
)
from ckaction.emulator.store import Store

# Substrings of model names known to be unable to generate text (CODE PROMPT validation).
UNAVAILABLE_MODEL_MARKERS = ("embedding", "whisper", "tts-", "dall-e", "moderation")


class Prompts(Store):
    """Prompt families: version rows sharing a `family_key`, one of them current."""

    def _prompt(self, ident: int | str) -> PromptRec:
        """Numeric id → that row; else family_key, exact name, then slug among current versions."""
        prompt_id = parse_ident(ident)
        if prompt_id is not None:
            if prompt_id in self._prompts:
                return self._prompts[prompt_id]
            raise not_found()
        key = str(ident)
        # `current_versions` is ordered newest first: an ambiguous name finds the newest family.
        newest_first = sorted(self._prompts.values(), key=lambda p: p.id, reverse=True)
        current = [p for p in newest_first if p.current]
        for matches in (
            lambda p: p.family_key == key,
            lambda p: p.name == key,
            lambda p: slugify(p.name) == key,
        ):
            found = next((p for p in current if matches(p)), None)
            if found is not None:
                return found
        raise not_found()

    def _prompt_json(self, prompt: PromptRec) -> JsonDict:
        return {
            "id": prompt.id,
            "name": prompt.name,
            "description": prompt.description,
            "template": prompt.template,
            "llm_model": prompt.llm_model,
            "family_key": prompt.family_key,
            "version_number": prompt.version_number,
            "current": prompt.current,
            "created_at": prompt.created_at,
            "updated_at": prompt.updated_at,
            "tags": self._tags_json(prompt.tag_ids),
        }

    def _prompt_fields(self, body: Mapping[str, Any], prompt: PromptRec | None) -> JsonDict:
        tag_names = self._tag_names_from(body)  # assigned (and refused) before validation
        errors = Errors()
        values: JsonDict = {"tag_names": tag_names}
        for key in ("name", "template", "llm_model"):
            value = body.get(key, getattr(prompt, key) if prompt else None)
            if not isinstance(value, str) or not value.strip():
                errors.add(key, "can't be blank")
            values[key] = value
        model = values["llm_model"]
        if isinstance(model, str) and any(m in model.lower() for m in UNAVAILABLE_MODEL_MARKERS):
            errors.add("llm_model", "is not available for generating responses")
        description = body.get("description", prompt.description if prompt else None)
        if description is not None and not isinstance(description, str):
            errors.add("description", "must be a string")
        values["description"] = description
        errors.raise_if_any()
        values["name"] = str(values["name"]).strip()
        return values

    def _publish(self, prompt: PromptRec) -> None:
        stamp = iso_now()
        for other in self._prompts.values():
            if other.family_key == prompt.family_key and other.id != prompt.id and other.current:
                other.current = False
                other.updated_at = stamp
        prompt.current = True
        prompt.updated_at = stamp

    def _new_prompt(
        self, values: Mapping[str, Any], family_key: str | None, current: bool
    ) -> PromptRec:
        family = family_key or str(uuid.uuid4())
        versions = [p.version_number for p in self._prompts.values() if p.family_key == family]
        stamp = iso_now()
        prompt = PromptRec(
            id=self._next("prompt"),
            name=str(values["name"]),
            description=values.get("description"),
            template=str(values["template"]),
            llm_model=str(values["llm_model"]),
            family_key=family,
            version_number=max(versions, default=0) + 1,
            current=False,
            tag_ids=self._tag_ids(values.get("tag_names") or []),
            created_at=stamp,
            updated_at=stamp,
        )
        self._prompts[prompt.id] = prompt
        if current:
            self._publish(prompt)
        return prompt

    def list_prompts(self, query: Query | None = None) -> Page:
        return self._list_tagged(self._prompts, self._prompt_json, query or {})

    def get_prompt(self, ident: int | str) -> JsonDict:
        with self.lock:
            return self._prompt_json(self._prompt(ident))

    def create_prompt(self, body: Mapping[str, Any]) -> JsonDict:
        """Always a new family (fresh family_key, version_number 1, current true): only `name,
        description, template, llm_model, tag_names` are permitted, anything else is ignored."""
        with self.lock:
            values = self._prompt_fields(body, None)
            return self._prompt_json(self._new_prompt(values, None, current=True))

    def _has_runs(self, prompt: PromptRec) -> bool:
        """`@prompt.runs.exists?`: any run of this row, whatever its status (a pending one too)."""
        return any(run.prompt_id == prompt.id for run in self._runs.values())

    def update_prompt(self, ident: int | str, body: Mapping[str, Any]) -> JsonDict:
        """The engine's update. A row with runs: `clone_as_new_version` (version_number + 1, same
        family, the body's fields over the row's, only the tags the body names) then `publish!`,
        whatever the body changes; the new row is the answer. A row without runs: edited in place,
        its previous content gone (completion-kit `app/controllers/completion_kit/api/v1/
        prompts_controller.rb` @57e8f90a, and every later version that can be read).
        `prompt_patch_drafts` leaves the clone a draft (`current: false`): no engine that can be
        read does that; it is there for the client's branch that publishes a drafted answer."""
        with self.lock:
            prompt = self._prompt(ident)
            values = self._prompt_fields(body, prompt)
            if self._has_runs(prompt):
                publish = not self.prompt_patch_drafts
                new = self._new_prompt(values, prompt.family_key, current=publish)
                return self._prompt_json(new)
            prompt.name = str(values["name"])
            prompt.template = str(values["template"])
            prompt.llm_model = str(values["llm_model"])
            prompt.description = values["description"]
            if values["tag_names"] is not None:
                prompt.tag_ids = self._tag_ids(values["tag_names"])
            prompt.updated_at = iso_now()
            return self._prompt_json(prompt)

    def publish_prompt(self, ident: int | str) -> JsonDict:
        with self.lock:
            prompt = self._prompt(ident)
            self._publish(prompt)
            return self._prompt_json(prompt)

    def delete_prompt(self, ident: int | str) -> None:
        """Deletes that version row and its runs."""
        with self.lock:
            prompt = self._prompt(ident)
            del self._prompts[prompt.id]
            self._drop_runs(lambda run: run.prompt_id == prompt.id)

    def add_prompt(
        self,
        name: str,
        template: str,
        llm_model: str = "gpt-4o-mini",
        family_key: str | None = None,
        current: bool = True,
        *,
        description: str | None = None,
        tag_names: Sequence[str] = (),
    ) -> JsonDict:
        """Create a prompt version; `family_key` None starts a new family. version_number is auto."""
        body: JsonDict = {
            "name": name,
            "template": template,
            "llm_model": llm_model,
            "description": description,
            "tag_names": list(tag_names),
        }
        with self.lock:
            values = self._prompt_fields(body, None)
            return self._prompt_json(self._new_prompt(values, family_key, current=current))
