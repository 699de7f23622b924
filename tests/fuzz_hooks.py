"""Schemathesis hooks for tests/e2e/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The document's own string formats `phone` and `e164` (voxlancer/api/validation.py FORMATS) mean
a dialable number, which no JSON Schema keyword states; without a strategy the fuzzer would
treat every string as one. Negative cases still send other types and lengths.
"""

from hypothesis import strategies as st
from schemathesis import openapi

from tests.campaign_helpers import number

_NUMBERS = st.integers(min_value=0, max_value=99_999).map(number)

openapi.format("phone", _NUMBERS | st.sampled_from(["(202) 555-0143", "2025550143"]))
openapi.format("e164", _NUMBERS)
