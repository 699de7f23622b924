from voxlancer.dialer.pacing import fair_split, max_min_split


def test_a_big_campaign_does_not_starve_a_small_one():
    assert max_min_split(10, {"big": 1000, "small": 3}) == {"big": 7, "small": 3}
    assert max_min_split(10, {"a": 1000, "b": 1000}) == {"a": 5, "b": 5}


def test_nobody_gets_more_than_asked_and_capacity_is_not_exceeded():
    grant = max_min_split(7, {"a": 2, "b": 10, "c": 10})
    assert grant["a"] == 2 and sum(grant.values()) == 7
    assert max_min_split(0, {"a": 5}) == {"a": 0}
    assert max_min_split(100, {"a": 5, "b": 0}) == {"a": 5, "b": 0}


def test_customers_share_first_then_their_campaigns():
    grant = fair_split(12, {"alice": {"a1": 100, "a2": 100, "a3": 100}, "bob": {"b1": 100}})
    assert grant["b1"] == 6
    assert grant["a1"] + grant["a2"] + grant["a3"] == 6
