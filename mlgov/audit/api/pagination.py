"""Cursor pagination, newest first: new events arrive at the head of the log, so page
numbers would shift under a reader; a cursor on `sequence` does not, and costs the same
on the millionth page as on the first."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class AuditCursorPagination(CursorPagination):
    ordering = "-sequence"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
