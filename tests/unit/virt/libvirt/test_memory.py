"""The decisions a memory snapshot's save makes from libvirt's figures: the
pause summed from lifecycle events, the progress, when a live copy that does
not converge is made to end. (The save itself runs against real libvirtd in
tests/functional/test_libvirt_memory.py.)"""

import libvirt

from nativesnap.virt.libvirt import memory

MIB = 1024 * 1024


def running_job(processed_mib, total_mib):
    return {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED,
            "memory_processed": processed_mib * MIB, "memory_total": total_mib * MIB}


def test_the_pause_is_the_time_from_suspended_to_resumed():
    assert memory.paused_seconds([(10.0, True), (10.25, False)], until=11.0) == 0.25


def test_every_pause_in_the_window_is_counted():
    changes = [(1.0, True), (1.5, False), (2.0, True), (2.125, False)]
    assert memory.paused_seconds(changes, until=3.0) == 0.625


def test_a_pause_whose_resume_never_arrived_ends_at_the_call_end():
    assert memory.paused_seconds([(1.0, True)], until=1.5) == 0.5


def test_a_second_suspended_event_does_not_restart_the_pause():
    # A pause made by nativesnap to finish a save, then QEMU's own stop.
    changes = [(1.0, True), (1.25, True), (1.5, False)]
    assert memory.paused_seconds(changes, until=2.0) == 0.5


def test_no_event_is_no_pause():
    assert memory.paused_seconds([], until=5.0) == 0.0


def test_a_copy_past_the_limit_of_a_running_save_calls_for_a_pause():
    assert memory.over_copy_limit(running_job(257, 128), 2.0)
    assert not memory.over_copy_limit(running_job(255, 128), 2.0)


def test_a_finished_or_unknown_job_never_calls_for_a_pause():
    finished = dict(running_job(1000, 128), type=libvirt.VIR_DOMAIN_JOB_COMPLETED)
    assert not memory.over_copy_limit(finished, 2.0)
    assert not memory.over_copy_limit({}, 2.0)
    assert not memory.over_copy_limit(running_job(10, 0), 2.0)


def test_progress_follows_the_copy_between_5_and_90_percent_and_is_capped():
    assert memory.progress_percent({}) == 5
    assert memory.progress_percent(running_job(0, 128)) == 5
    assert memory.progress_percent(running_job(64, 128)) == 47
    assert memory.progress_percent(running_job(128, 128)) == 90
    # A live copy sends dirtied pages again: more than the RAM.
    assert memory.progress_percent(running_job(300, 128)) == 90


def test_a_save_record_names_how_its_pause_was_measured():
    saved = memory.Saved(paused_ms=40, call_ms=180, paused_from=memory.BY_EVENTS,
                         live=True, qemu_downtime_ms=4)
    assert saved.record() == {"paused_ms": 40, "call_ms": 180,
                              "paused_from": "lifecycle events", "live": True,
                              "forced_pause": False, "qemu_downtime_ms": 4}
