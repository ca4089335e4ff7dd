"""The Dockerfile subset: what parses, and each refusal naming its line."""

import pytest

from labcore import InvalidInputError
from labcore.images.dockerfile import parse


def test_the_supported_instructions_parse():
    ins = parse("""
# a comment
FROM scratch
COPY rootfs/ /
ENV A=1 B="two words"
ENV OLD the old form
RUN echo a && \\
    echo b
RUN ["/bin/echo", "exec form"]
WORKDIR /app
CMD ["/app/run"]
CMD echo shell form
""")
    assert [i.keyword for i in ins] == ["FROM", "COPY", "ENV", "ENV", "RUN", "RUN", "WORKDIR", "CMD", "CMD"]
    assert ins[1].args == ("rootfs/", "/")
    assert ins[2].args == (("A", "1"), ("B", "two words"))
    assert ins[3].args == (("OLD", "the old form"),)
    assert ins[4].args == ("/bin/sh", "-c", "echo a && echo b") and ins[4].line == 7
    assert ins[5].args == ("/bin/echo", "exec form")
    assert ins[7].args == ("/app/run",) and ins[8].args == ("/bin/sh", "-c", "echo shell form")
    assert [i.makes_layer for i in ins][:2] == [False, True]


@pytest.mark.parametrize("text,match", [
    ("COPY a /", "starts with FROM"),
    ("FROM scratch\nFROM scratch", "line 2: a second FROM"),
    ("FROM scratch\nADD a /", "line 2: ADD is not supported"),
    ("FROM scratch\nFLY away", "line 2: unknown instruction 'FLY'"),
    ("FROM scratch\nCOPY onlyone", "line 2: COPY needs a source and a destination"),
    ("FROM scratch\nCOPY --chown=1 a /", "COPY options"),
    ("FROM scratch\nENV 1BAD=x", "bad variable name"),
    ("FROM scratch\nRUN", "RUN needs arguments"),
    ("FROM a AS b", "FROM takes one image"),
    ("FROM scratch\nCMD []", "non-empty JSON array"),
])
def test_refusals_name_the_line(text, match):
    with pytest.raises(InvalidInputError, match=match):
        parse(text)


@pytest.mark.parametrize("text,match", [
    ('FROM scratch\nCOPY "a /b', "line 2: .*quot"),
    ("FROM scratch\n\nCOPY a 'b", "line 3: .*quot"),
    ('FROM scratch\nENV A="x', "line 2: .*quot"),
    ('FROM scratch\nCOPY a \\\n  "b', "line 2: .*quot"),
])
def test_unbalanced_quotes_name_the_line(text, match):
    with pytest.raises(InvalidInputError, match=match):
        parse(text)


def test_a_file_that_is_not_utf8_names_the_line():
    data = b"FROM scratch\nENV A=1\nCOPY caf\xe9 /\n"
    with pytest.raises(InvalidInputError, match="line 3: byte 0xe9 is not UTF-8"):
        parse(data)
    assert parse("FROM scratch\nCOPY café /\n".encode())[1].args == ("café", "/")
    assert parse(b"\xef\xbb\xbfFROM scratch\n")[0].keyword == "FROM"  # a BOM is allowed


def test_build_of_a_dockerfile_that_is_not_utf8_names_the_line(tmp_path):
    from labcore.errors import InvalidInputError
    from labcore.images import builder
    (tmp_path / "Dockerfile").write_bytes(b"FROM scratch\nENV X=caf\xe9\n")
    with pytest.raises(InvalidInputError, match="line 2"):
        builder.build(tmp_path / "Dockerfile", tmp_path, tmp_path / "out", "t:1")
    assert not (tmp_path / "out").exists()
