"""The live limit control."""

import pytest


class ParsingGroup:
    """A cgroup whose ``set`` checks every value with the real limit parser, as Cgroup.set does."""

    name = "lab-parse"

    def __init__(self, **limits):
        from labcore.cgroups import limits as L
        self.limits = L.Limits(**limits)
        self.sent = []

    def set(self, **human):
        from dataclasses import replace

        from labcore.cgroups import limits as L
        self.sent.append(human)
        self.limits = replace(self.limits, **L.parse_changes(**human))  # raises on a value the parser refuses
        return self.limits


class Clock:
    running = False

    def __init__(self):
        self.events = []

    def mark(self, text):
        self.events.append(text)
        return float(len(self.events))


@pytest.mark.parametrize("limit, current", [("cpus", 0.5), ("memory", 64 << 20), ("memory_high", 48 << 20),
                                            ("pids", 20)])
def test_every_slider_position_is_a_value_the_limit_parser_accepts(limit, current):
    from labcore.cgroups import limits as L
    from labcore.teach.widgets import LiveLimit
    group = ParsingGroup(**{limit: current})
    control = LiveLimit(group, Clock(), limit)
    control.refresh = lambda: None  # no plot here: the parser is the point
    slider = control.slider
    positions = [slider.min, slider.max, slider.min + slider.step, slider.value]
    for position in positions:
        L.PARSERS[limit](control.value(position))  # raises InvalidInputError if refused
    target = slider.min + 2 * slider.step
    control.set(target)
    assert getattr(group.limits, limit) == L.PARSERS[limit](control.value(target))
    assert control.changes[-1][1] == getattr(group.limits, limit)  # the plot gets the parsed number


def test_a_pids_slider_sends_a_whole_count_and_a_memory_slider_a_size():
    from labcore.teach.widgets import LiveLimit
    pids = LiveLimit(ParsingGroup(pids=20), Clock(), "pids")
    assert pids.value(20.0) == 20 and isinstance(pids.value(20.0), int)
    memory = LiveLimit(ParsingGroup(memory=64 << 20), Clock(), "memory")
    assert memory.value(64) == "64M" and memory.slider.value == 64
    assert LiveLimit(ParsingGroup(cpus=0.5), Clock(), "cpus").value(0.15000000000000002) == 0.15
