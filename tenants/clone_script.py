"""A clone of the template schema as one plain SQL script, built from the catalog.

django-tenants' `clone_schema()` function scans the whole catalog on every call, so a
clone gets slower with every tenant (seconds at a few hundred) and it renames unique
constraints, which a later migration dropping them by name would trip over. This
script is generated once per process from the template, keeps every name, and costs
the same whatever the number of schemas.
"""

from __future__ import annotations

from django.db import connection

DEST = "{dest}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rows(cursor, sql: str, params: list) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def build_clone_script(template: str) -> str:
    """The DDL and data copy that turns an empty name `{dest}` into a copy of `template`."""
    src = _quote(template)
    statements = [f"CREATE SCHEMA {DEST}"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path = ''")  # definitions come back qualified
        serials = _rows(
            cursor,
            "SELECT count(*) FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%%'",
            [template],
        )
        if serials[0][0]:
            raise RuntimeError("The template uses serial columns; only identity columns clone.")
        tables = [
            row[0]
            for row in _rows(
                cursor,
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
                [template],
            )
        ]
        for table in tables:
            statements.append(
                f"CREATE TABLE {DEST}.{_quote(table)} (LIKE {src}.{_quote(table)} "
                "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED "
                "INCLUDING STORAGE INCLUDING COMMENTS)"
            )
        constraints = _rows(
            cursor,
            "SELECT r.relname, ct.conname, pg_get_constraintdef(ct.oid), ct.contype "
            "FROM pg_constraint ct JOIN pg_class r ON r.oid = ct.conrelid "
            "JOIN pg_namespace n ON n.oid = r.relnamespace "
            "WHERE n.nspname = %s ORDER BY ct.contype = 'f', r.relname, ct.conname",
            [template],
        )
        for table, name, definition, kind in constraints:
            if kind != "f":  # keys and checks first, under their own names
                statements.append(
                    f"ALTER TABLE {DEST}.{_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}"
                )
        for (definition,) in _rows(
            cursor,
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint ct "
            "WHERE ct.conindid = i.indexrelid AND ct.contype IN ('p', 'u', 'x'))",
            [template],
        ):
            statements.append(definition.replace(f" ON {template}.", f" ON {DEST}."))
        filled = []
        for table in tables:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {src}.{_quote(table)})")
            if cursor.fetchone()[0]:
                filled.append(table)
                statements.append(
                    f"INSERT INTO {DEST}.{_quote(table)} OVERRIDING SYSTEM VALUE "
                    f"SELECT * FROM {src}.{_quote(table)}"
                )
        for table, column in _rows(
            cursor,
            "SELECT c.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' AND a.attidentity <> ''",
            [template],
        ):
            if table in filled:
                statements.append(
                    f"SELECT setval(pg_get_serial_sequence('{DEST}.{_quote(table)}', "
                    f"'{column}'), (SELECT coalesce(max({_quote(column)}), 0) + 1 "
                    f"FROM {DEST}.{_quote(table)}), false)"
                )
        for table, name, definition, kind in constraints:
            if kind == "f":
                definition = definition.replace(f"REFERENCES {template}.", f"REFERENCES {DEST}.")
                statements.append(
                    f"ALTER TABLE {DEST}.{_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}"
                )
        for (definition,) in _rows(
            cursor,
            "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND NOT t.tgisinternal",
            [template],
        ):
            statements.append(definition.replace(f" ON {template}.", f" ON {DEST}."))
    return ";\n".join(statements) + ";\n"


def render(script: str, schema_name: str) -> str:
    return script.replace(DEST, _quote(schema_name))
