"""Who made a call and when, read from its path by a pattern such as '{team}/{agent}/{date}_*.txt'."""

from __future__ import annotations

import re
from datetime import date
from pathlib import PurePath

from callqa.store.records import CallMeta

_FIELDS = ("agent", "team", "date")


def path_pattern(pattern: str) -> re.Pattern[str]:
    """A regular expression for a path pattern: {agent}, {team} and {date} each match one name (no
    '/'; a date as 2024-07-03 or 20240703), '*' any part of a name, '**' any folders. Matched against
    the end of a path, or the whole of it when the pattern starts with '/'. Raises ValueError."""
    out, i = [], 0
    seen: set[str] = set()
    for match in re.finditer(r"\{(\w+)\}|\*\*/?|\*", pattern):
        out.append(re.escape(pattern[i : match.start()]))
        name = match.group(1)
        if name:
            if name not in _FIELDS:
                raise ValueError(f"unknown field {{{name}}} in the path pattern (use {{agent}}, {{team}}, {{date}})")
            if name in seen:
                raise ValueError(f"{{{name}}} appears twice in the path pattern")
            seen.add(name)
            # Fields greedy, wildcards lazy: in '{agent}*.txt', abc.txt is agent abc.
            out.append(rf"(?P<{name}>\d{{4}}-?\d{{2}}-?\d{{2}})" if name == "date" else rf"(?P<{name}>[^/]+)")
        elif match.group().startswith("**"):
            out.append(r"(?:.*/)?")
        else:
            out.append(r"[^/]*?")
        i = match.end()
    out.append(re.escape(pattern[i:]))
    if not seen:
        raise ValueError("a path pattern needs at least one of {agent}, {team}, {date}")
    return re.compile(("^" if pattern.startswith("/") else r"(?:^|/)") + "".join(out) + "$")


def meta_from_path(path: str, pattern: re.Pattern[str]) -> CallMeta | None:
    """The fields a path pattern finds in a path; None when it does not match (a {date} that is no
    real day, such as 20241301, is left out)."""
    match = pattern.search(PurePath(path).as_posix())
    if match is None:
        return None
    found = match.groupdict()
    when = None
    if found.get("date"):
        digits = found["date"].replace("-", "")
        try:
            when = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            when = None
    return CallMeta(agent=found.get("agent"), team=found.get("team"), call_date=when)


def merge_meta(*sources: CallMeta) -> CallMeta:
    """Each field from the first source that has it (options first, then the transcript, then the path)."""
    return CallMeta(
        agent=next((s.agent for s in sources if s.agent), None),
        team=next((s.team for s in sources if s.team), None),
        call_date=next((s.call_date for s in sources if s.call_date), None),
    )
