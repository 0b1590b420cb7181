# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors raised by the mesh planner. Every problem names its subject (a host or peer) and the field."""

from __future__ import annotations


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
        return "; ".join(p.render(field_prefix) for p in self.problems)


def fail(subject, field, message):
    """Raise a MeshError with a single problem."""
    raise MeshError(Problem(subject, field, message))
