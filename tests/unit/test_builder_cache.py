"""The build cache without root: COPY-only builds, keyed by the hash chain."""

import os

import pytest

from labcore import InvalidInputError
from labcore.images.builder import build
from labcore.images.layout import Layout

DOCKERFILE = """FROM scratch
COPY base/ /
ENV STAGE=one
COPY deps/ /deps/
COPY app.txt /app/app.txt
CMD ["/bin/app"]
"""


@pytest.fixture
def ctx(tmp_path):
    c = tmp_path / "ctx"
    (c / "base" / "etc").mkdir(parents=True)
    (c / "base" / "etc" / "os-release").write_text("lab\n")
    (c / "deps").mkdir()
    (c / "deps" / "lib.txt").write_text("v1\n")
    (c / "app.txt").write_text("app v1\n")
    (c / "Dockerfile").write_text(DOCKERFILE)
    return c


def go(ctx, tmp_path):
    return build(ctx / "Dockerfile", ctx, tmp_path / "out", "t", cache=tmp_path / "cache")


def test_first_build_builds_everything_second_nothing(ctx, tmp_path):
    first = go(ctx, tmp_path)
    assert first.rebuilt() == [2, 4, 5] and first.reused() == []
    second = go(ctx, tmp_path)
    assert second.rebuilt() == [] and second.reused() == [2, 4, 5]
    assert second.image.digest == first.image.digest  # fixed timestamps: the very same image


def test_changing_an_early_step_rebuilds_every_later_layer(ctx, tmp_path):
    go(ctx, tmp_path)
    (ctx / "base" / "etc" / "os-release").write_text("lab 2\n")  # content changed, line did not
    assert go(ctx, tmp_path).rebuilt() == [2, 4, 5]


def test_changing_config_between_layers_also_invalidates(ctx, tmp_path):
    go(ctx, tmp_path)
    (ctx / "Dockerfile").write_text(DOCKERFILE.replace("STAGE=one", "STAGE=two"))
    assert go(ctx, tmp_path).rebuilt() == [4, 5]


def test_changing_the_last_step_rebuilds_only_the_last_layer(ctx, tmp_path):
    go(ctx, tmp_path)
    (ctx / "app.txt").write_text("app v2\n")
    result = go(ctx, tmp_path)
    assert result.rebuilt() == [5] and result.reused() == [2, 4]


def test_image_config_and_layers(ctx, tmp_path):
    image = go(ctx, tmp_path).image
    assert image.runtime["Cmd"] == ["/bin/app"] and "STAGE=one" in image.runtime["Env"]
    assert len(image.layers) == len(image.diff_ids) == 3
    assert [h.get("empty_layer", False) for h in image.config["history"]] == [False, True, False, False, True]
    assert Layout.open(tmp_path / "out").tags() == ["t"]


@pytest.mark.parametrize("src", ["../outside", "escape"])
def test_copy_sources_outside_the_context_are_refused(ctx, tmp_path, src):
    (tmp_path / "outside").write_text("secret")
    os.symlink(tmp_path / "outside", ctx / "escape")
    (ctx / "Dockerfile").write_text(f"FROM scratch\nCOPY {src} /x\n")
    with pytest.raises(InvalidInputError, match="line 2: COPY source"):
        go(ctx, tmp_path)


def test_run_without_root_says_so_and_keeps_the_layers_before_it(ctx, tmp_path, monkeypatch, state_dir):
    from labcore import PrivilegeError
    from labcore.images import builder
    monkeypatch.setattr(builder.os, "geteuid", lambda: 1000)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY base/ /\nRUN true\n")
    with pytest.raises(PrivilegeError, match="line 3: RUN needs root"):
        go(ctx, tmp_path)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY base/ /\n")
    assert go(ctx, tmp_path).reused() == [2]  # the COPY before it was built and cached


def test_run_steps_get_memory_and_pids_limits_the_parser_accepts():
    from labcore.cgroups import limits as L
    from labcore.images import builder
    plenty, little = builder.run_limits(available=64 << 30), builder.run_limits(available=512 << 20)
    assert plenty == {"memory": "1024M", "pids": builder.RUN_PIDS} and little["memory"] == "256M"
    assert builder.run_limits(available=0)["memory"] == "64M"
    for limits in (plenty, little):
        parsed = L.parse_changes(memory=limits["memory"], pids=limits["pids"])  # refused values would raise here
        assert parsed["memory"] <= builder.RUN_MEMORY and 0 < parsed["pids"] <= 4096
