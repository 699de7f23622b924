import csv
import random

import pytest

from voxlancer.csv_stream import BadRecord, CsvStream, NotCsv


def read(data: bytes, size: int = 1) -> list:
    stream = CsvStream()
    out = []
    for i in range(0, len(data), size):
        out += stream.feed(data[i:i + size])
    return out + stream.close()


@pytest.mark.parametrize("size", [1, 2, 7, 1 << 16])
def test_chunk_boundaries_do_not_matter(size):
    data = ('\ufeffphone_number,name\r\n+12025550143,"Smith, J"\r\n\r\n'
            '"+12025550144","two\nlines ""quoted"""\n2025550145,Zoë').encode()
    assert read(data, size) == [
        (1, ["phone_number", "name"]),
        (2, ["+12025550143", "Smith, J"]),
        (3, []),
        (4, ["+12025550144", 'two\nlines "quoted"']),
        (6, ["2025550145", "Zoë"]),
    ]


def test_trailing_newline_is_not_a_record():
    assert read(b"a\nb\n") == [(1, ["a"]), (2, ["b"])]
    assert read(b"") == []


def test_binary_and_bad_text_are_refused():
    with pytest.raises(NotCsv, match="binary"):
        read(b"PK\x03\x04\x00\x00", 64)
    with pytest.raises(NotCsv, match="UTF-8"):
        read(b"phone_number\n\xff\xfe+1202\n", 64)
    with pytest.raises(NotCsv, match="ends inside a character"):
        read("é".encode()[:1], 64)


def test_unclosed_quote_is_bounded():
    stream = CsvStream(max_record_chars=100)
    stream.feed(b'"abc\n')
    with pytest.raises(NotCsv, match="line 1 never closes"):
        for _ in range(50):
            stream.feed(b"more text here\n")


def test_a_bad_record_does_not_stop_the_rest():
    out = read(b'a\rb\nok\n', 64)
    assert isinstance(out[0][1], BadRecord)
    assert out[1] == (2, ["ok"])


def test_plain_batches_split_as_the_csv_module_would():
    """Batches without quotes or carriage returns skip the csv module; the cells must be the
    ones it gives, blank lines, empty cells and spaces included."""
    rng = random.Random(16)
    alphabet = "ab ,,\t1+-.;'\\"
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
             for _ in range(5000)]
    text = "\n".join(lines) + "\n"
    stream = CsvStream()
    got = stream.feed(text.encode()) + stream.close()
    expected = [(n, cells) for n, cells in enumerate(csv.reader(lines), start=1)]
    assert got == expected
