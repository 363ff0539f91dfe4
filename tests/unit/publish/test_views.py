"""Publish's read views mirror the contract models: a field renamed, retyped, bounded or given
another default in `shared.events` fails here until the view follows (services/publish/views.py)."""

from __future__ import annotations

import functools
import operator
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from services.publish import views
from shared.events import (
    Enrichment,
    Entities,
    Entity,
    Identifiers,
    PublishedArticle,
    PublishedEvent,
    TaggedArticle,
    TaggedEvent,
)

# Each view and the model it mirrors.
MIRRORS: dict[type[BaseModel], type[BaseModel]] = {
    views.TaggedEventView: TaggedEvent,
    views.TaggedView: TaggedArticle,
    views.EntitiesView: Entities,
    views.EntityView: Entity,
    views.IdentifiersView: Identifiers,
    views.IndexedEvent: PublishedEvent,
    views.IndexedArticleView: PublishedArticle,
    views.IndexedEnrichmentView: Enrichment,
    views.IndexedEntitiesView: Entities,
    views.IndexedEntityView: Entity,
}

# Where a view reads differently on purpose, and why.
DELIBERATE: dict[tuple[type[BaseModel], str], str] = {
    # The writer always sets it; a view has no clock of its own to default it from.
    (views.TaggedEventView, "occurred_at"): "optional, not defaulted to now",
    (views.IndexedEvent, "event_id"): "required: the index keys its records by it",
    # Read as loosely as the summary functions read a ninjs document.
    (views.IndexedArticleView, "ninjs"): "the few properties the index keeps, any type",
}


def _as_model_type(annotation: Any) -> Any:
    """The annotation with each view class replaced by the model it mirrors."""
    if isinstance(annotation, type) and annotation in MIRRORS:
        return MIRRORS[annotation]
    args = get_args(annotation)
    if not args:
        return annotation
    origin = get_origin(annotation)
    mapped = tuple(_as_model_type(a) for a in args)
    if origin is list:
        return list[mapped[0]]  # type: ignore[valid-type]
    return functools.reduce(operator.or_, mapped) if origin is not None and len(mapped) > 1 else annotation


def _same_default(ours: FieldInfo, theirs: FieldInfo) -> bool:
    """The same default: the same value, the same factory, or a view made by its factory that
    reads as the model's would (on the view's fields)."""
    if ours.default_factory is None or theirs.default_factory is None:
        return ours.default_factory is theirs.default_factory and ours.default == theirs.default
    if ours.default_factory is theirs.default_factory:
        return True
    made, expected = ours.default_factory(), theirs.default_factory()  # type: ignore[call-arg]
    if isinstance(made, BaseModel) and isinstance(expected, BaseModel):
        wanted = expected.model_dump()
        return made.model_dump() == {name: wanted[name] for name in type(made).model_fields}
    return bool(made == expected)


def field_mismatch(view: type[BaseModel], model: type[BaseModel], name: str) -> str | None:
    """How the view's field `name` reads differently from the model's, or None."""
    if name not in model.model_fields:
        return f"{model.__name__} has no field {name!r}"
    ours, theirs = view.model_fields[name], model.model_fields[name]
    if _as_model_type(ours.annotation) != theirs.annotation:
        return f"type {ours.annotation} against {theirs.annotation}"
    if ours.is_required() != theirs.is_required():
        return "required in one, not the other"
    if not ours.is_required() and not _same_default(ours, theirs):
        return "another default"
    if ours.metadata != theirs.metadata:
        return f"bounds {ours.metadata} against {theirs.metadata}"  # such as ge=1
    return None


CASES = [
    pytest.param(view, name, id=f"{view.__name__}.{name}")
    for view in MIRRORS
    for name in view.model_fields
    if (view, name) not in DELIBERATE
]


@pytest.mark.parametrize(("view", "name"), CASES)
def test_a_view_field_reads_what_the_model_writes(view: type[BaseModel], name: str) -> None:
    assert field_mismatch(view, MIRRORS[view], name) is None


@pytest.mark.parametrize(("view", "name"), list(DELIBERATE))
def test_a_deliberate_difference_is_still_a_model_field(view: type[BaseModel], name: str) -> None:
    assert name in view.model_fields
    assert name in MIRRORS[view].model_fields


def test_a_view_ignores_what_it_does_not_read() -> None:
    for view in MIRRORS:
        assert view.model_config.get("extra") == "ignore", view.__name__


def test_the_field_check_catches_a_drifted_view() -> None:
    class Drifted(views.EntityView):
        in_headline: bool = True  # the model defaults to False
        count: str  # the model's is an int with ge=0
        nickname: str = ""  # the model has none

    assert field_mismatch(Drifted, Entity, "in_headline") == "another default"
    assert (field_mismatch(Drifted, Entity, "count") or "").startswith("type")
    assert field_mismatch(Drifted, Entity, "nickname") == "Entity has no field 'nickname'"
    assert field_mismatch(Drifted, Entity, "identifiers") is None  # a nested view maps to its model
    assert _as_model_type(list[views.EntityView]) == list[Entity]
