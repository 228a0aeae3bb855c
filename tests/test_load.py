"""Unit tests of threadlab.load: how many cores other programs take while we measure."""

import time

from threadlab.load import Elsewhere


def test_elsewhere_measures_seconds_and_cores():
    with Elsewhere() as e:
        time.sleep(0.1)
    assert e.seconds >= 0.1 and e.cores >= 0 and e.own_cores >= 0


def test_elsewhere_counts_our_own_work_as_ours():
    meter = Elsewhere()
    for _ in range(2):   # one meter can measure several blocks: it adds them up
        with meter:
            end = time.process_time() + 0.1
            while time.process_time() < end:
                pass
    # spent by this process, never "elsewhere"; the OS counts CPU time in ticks of 0.01 s, so a
    # block's 0.1 s of process_time() can read as 0.09 s
    assert meter.seconds >= 0.2 and meter.own_cpu >= 0.2 - 2 * 0.011
    assert meter.own_cores == meter.own_cpu / meter.seconds
