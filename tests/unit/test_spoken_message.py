"""What the called person hears (47 CFR 64.1200(b)): its parts, in order."""

from voxlancer.dialer.compliance import spoken_message, voicemail_message


def test_the_live_message_names_the_caller_the_opt_out_key_and_the_callback_number():
    spoken = spoken_message("Riverside Dental", " Your cleaning is on Thursday. ", "*",
                            "+12025550143")
    assert spoken.parts == (
        "This is a message from Riverside Dental. To stop receiving these calls, press star.",
        "Your cleaning is on Thursday.",
        "Please call us back at 1, 2, 0, 2, 5, 5, 5, 0, 1, 4, 3.")
    assert spoken.text == " ".join(spoken.parts)


def test_without_a_callback_number_the_message_ends_with_the_message():
    spoken = spoken_message("", "Hello.", "9")
    assert spoken.parts == ("This is a message from an automated calling service. To stop "
                            "receiving these calls, press 9.", "Hello.")
    assert spoken.callback is None


def test_the_voicemail_message_gives_the_same_callback_sentence():
    left = voicemail_message("Riverside Dental", "Call us.", "+12025550143")
    assert left.endswith(spoken_message("x", "y", "9", "+12025550143").callback or "-")
    assert voicemail_message("Riverside Dental", "Call us.", "") == (
        "This is a message from Riverside Dental. Call us.")
