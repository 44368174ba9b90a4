"""Small pieces every registry console page shares: paging and the 404 of invisible objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest

PAGE_SIZE = 50
T = TypeVar("T")


def page_of(request: HttpRequest, items, *, per_page: int = PAGE_SIZE) -> Page:
    """The `?page=` page of `items` (a bad or too large number gives the nearest page)."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def visible_or_404(read: Callable[..., T], **kwargs) -> T:
    """Call a selector's `..._get`; an object the user may not see (or that does not exist)
    is a 404 either way, so its existence is never revealed."""
    try:
        found = read(**kwargs)
    except ObjectDoesNotExist:
        raise Http404 from None
    if found is None:
        raise Http404
    return found
