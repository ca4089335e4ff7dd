"""The restart policy's decisions (labcore.daemon.restart), without a daemon."""

import pytest

from labcore.daemon import restart
from labcore.errors import InvalidInputError


def test_parse_takes_dockers_forms_and_refuses_the_rest():
    assert restart.parse(None) == {"Name": "no", "MaximumRetryCount": 0}
    assert restart.parse({"Name": "", "MaximumRetryCount": 0}) == {"Name": "no", "MaximumRetryCount": 0}
    assert restart.parse({"Name": "on-failure", "MaximumRetryCount": 3}) == {"Name": "on-failure", "MaximumRetryCount": 3}
    for bad, words in (({"Name": "sometimes"}, "unknown policy"), ({"Name": "always", "MaximumRetryCount": 2}, "only"),
                       ({"Name": "on-failure", "MaximumRetryCount": -1}, "negative"), ("always", "not an object")):
        with pytest.raises(InvalidInputError, match=words):
            restart.parse(bad)


def test_decide():
    on_failure = {"Name": "on-failure", "MaximumRetryCount": 2}
    assert restart.decide(on_failure, 139, 0, False) and restart.decide(on_failure, 1, 1, False)
    assert not restart.decide(on_failure, 139, 2, False)       # the retries are used up
    assert not restart.decide(on_failure, 0, 0, False)         # a clean exit is no failure
    assert restart.decide({"Name": "on-failure"}, 1, 1000, False)  # no maximum given: no end
    assert restart.decide({"Name": "always"}, 0, 50, False)
    for name in ("always", "unless-stopped", "on-failure"):
        assert not restart.decide({"Name": name}, 137, 0, True)  # docker stop / kill: stays stopped
    assert not restart.decide({"Name": "no"}, 1, 0, False)


def test_at_daemon_start_always_outlasts_a_stop_by_the_user_and_the_others_do_not():
    assert restart.at_daemon_start({"Name": "always"}, 0, 0, True)            # stopped by the user: until now
    assert restart.at_daemon_start({"Name": "unless-stopped"}, 137, 0, False)  # ended while no daemon watched
    assert not restart.at_daemon_start({"Name": "unless-stopped"}, 0, 0, True)
    assert restart.at_daemon_start({"Name": "on-failure"}, 137, 0, False)
    assert not restart.at_daemon_start({"Name": "on-failure"}, 0, 0, False)
    assert not restart.at_daemon_start({"Name": "on-failure", "MaximumRetryCount": 1}, 1, 1, False)
    assert not restart.at_daemon_start({"Name": "no"}, 1, 0, False)


def test_delay_doubles_from_100_ms_up_to_a_minute_and_resets_after_a_steady_run():
    waits, wait = [], 0.0
    for _ in range(12):
        wait = restart.delay(wait, ran_for=0.5)
        waits.append(wait)
    assert waits[:4] == [0.1, 0.2, 0.4, 0.8] and waits[-1] == 60.0
    assert restart.delay(60.0, ran_for=10.0) == 0.1
