# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors raised by the mesh planner. Every problem names its subject (a host or peer) and the field.

Values echoed back in a message are shortened (``shown``), and a message lists at most ``MAX_SHOWN``
problems, so a huge or garbled inventory value still gives one readable line."""

from __future__ import annotations

MAX_SHOWN = 20       # problems spelled out in one message; the rest are counted
_MAX_VALUE = 64      # characters of a value's repr echoed back


def shown(value, limit=_MAX_VALUE):
    """``repr(value)``, cut to about ``limit`` characters with the full size said when it is longer."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, (list, tuple, dict)):
        size = "%d items" % len(value)
    else:
        size = "%d characters" % len(value if isinstance(value, (str, bytes)) else text)
    return "%s... (%s)" % (text[:limit], size)


def kind(value):
    """The plain type name of ``value`` (``int`` for Ansible's tagged ints, ``str`` for its tagged strings)."""
    for base in type(value).__mro__:
        if base in (bool, int, float, str, bytes, list, tuple, dict, type(None)):
            return "null" if base is type(None) else base.__name__
    return type(value).__name__


def described(value):
    """``<type> <value>`` for a message, with a hint where YAML turned a word into a boolean."""
    text = "%s %s" % (kind(value), shown(value))
    if isinstance(value, bool):
        text += " (YAML reads unquoted yes/no/true/false/on/off as booleans: quote the value)"
    return text


class Problem:
    """One validation problem: which host/peer, which field, what is wrong."""

    __slots__ = ("subject", "field", "message")

    def __init__(self, subject, field, message):
        self.subject = subject
        self.field = field
        self.message = message

    def render(self, field_prefix=""):
        field = "%s%s" % (field_prefix, self.field) if self.field else ""
        parts = [p for p in (self.subject, field) if p]
        return "%s: %s" % (": ".join(parts), self.message) if parts else self.message

    def __repr__(self):
        return "Problem(%r, %r, %r)" % (self.subject, self.field, self.message)


class MeshError(ValueError):
    """The mesh description is invalid. ``problems`` lists every problem found, in a stable order."""

    def __init__(self, problems):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self, field_prefix=""):
        return render_problems(self.problems, lambda p: p.render(field_prefix))


def render_problems(problems, render_one):
    """``render_one`` of every problem joined by ``; ``, the first ``MAX_SHOWN`` of them, the rest counted."""
    text = "; ".join(render_one(p) for p in problems[:MAX_SHOWN])
    if len(problems) > MAX_SHOWN:
        text += "; ... and %d more problems" % (len(problems) - MAX_SHOWN)
    return text


def fail(subject, field, message):
    """Raise a MeshError with a single problem."""
    raise MeshError(Problem(subject, field, message))
