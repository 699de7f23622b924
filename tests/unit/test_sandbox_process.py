"""How the sandbox tells its Asterisk is alive, and which processes are an instance's Asterisk."""

from __future__ import annotations

from voxlancer.asterisk.sandbox import is_instance_asterisk, is_live, parse_stat

CONF = "/etc/voxlancer/asterisk/e2e/asterisk.conf"


def stat_line(state: str = "S", started: int = 55134, comm: str = "asterisk") -> str:
    """A /proc/<pid>/stat line as Linux writes it; start time is field 22."""
    return (f"22705 ({comm}) {state} 22702 22702 8570 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 "
            f"{started} 3133440 415 18446744073709551615 94728817459200 94728817479081 0 0 0 "
            "0 0 0 0 0 0 17 0 0 0 0 0 0\n")


def test_parse_stat_reads_state_and_start_time() -> None:
    assert parse_stat(stat_line("R", 991)) == ("R", 991)


def test_parse_stat_survives_a_command_name_with_spaces_and_parentheses() -> None:
    assert parse_stat(stat_line("S", 42, comm="a) b (c")) == ("S", 42)


def test_a_process_between_chroot_and_asterisk_is_alive() -> None:
    # While chroot execs Asterisk the command line reads empty; the stat line does not.
    assert is_live(stat_line("R", 500, comm="chroot"), 500)
    assert is_live(stat_line("S", 500, comm="asterisk"), 500)
    assert is_live(stat_line("D", 500), 500)


def test_no_process_a_zombie_or_a_reused_pid_is_not_alive() -> None:
    assert not is_live(None, 500)
    assert not is_live("", 500)
    assert not is_live(stat_line("Z", 500), 500)  # exited, waiting to be reaped
    assert not is_live(stat_line("X", 500), 500)
    assert not is_live(stat_line("S", 501), 500)  # another process given the same pid


def test_the_instance_server_is_recognised() -> None:
    assert is_instance_asterisk(["/usr/sbin/asterisk", "-f", "-C", CONF], CONF)
    assert is_instance_asterisk(["asterisk", "-C", CONF, "-f", ""], CONF)


def test_remote_consoles_other_instances_and_other_programs_are_not() -> None:
    assert not is_instance_asterisk(["/usr/sbin/asterisk", "-C", CONF, "-rx", "core stop now"],
                                    CONF)
    assert not is_instance_asterisk(["/usr/sbin/asterisk", "-f", "-C", CONF, "-r"], CONF)
    other = "/etc/voxlancer/asterisk/e2e-b/asterisk.conf"
    assert not is_instance_asterisk(["/usr/sbin/asterisk", "-f", "-C", other], CONF)
    assert not is_instance_asterisk(["/usr/sbin/asterisk", "-f", CONF], CONF)
    assert not is_instance_asterisk(["pgrep", "-f", "-C", CONF], CONF)
    assert not is_instance_asterisk([""], CONF)
    assert not is_instance_asterisk([], CONF)
