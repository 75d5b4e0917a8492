"""The outage rule: which silences are one outage, and of which group (workstation.rules.incidents)."""

from __future__ import annotations

from workstation.rules.incidents import OUTAGE_MIN_DEVICES, assign_outages, outage_groups, outage_label


def test_a_device_belongs_to_its_gateway_and_the_cell_of_its_last_position():
    assert outage_groups("acme", 41.8801, -87.6401) == ("gateway:acme", "area:2094:-4383")
    assert outage_groups(None, 41.8801, -87.6401) == ("area:2094:-4383",)
    assert outage_groups("acme", None, None) == ("gateway:acme",)
    assert outage_label("gateway:acme") == "vendor gateway acme"
    assert outage_label("area:2094:-4383") == "area near 41.88, -87.66"


def test_a_cell_site_down_is_an_area_outage_even_when_one_vendor_has_five_devices_there():
    # eight silent devices around one cell site: five of vendor A, three of vendor B
    silent = {f"a{i}": ("gateway:A", "area:1:1") for i in range(5)}
    silent.update({f"b{i}": ("gateway:B", "area:1:1") for i in range(3)})
    silent["far"] = ("gateway:A", "area:9:9")  # vendor A's device elsewhere, silent by chance
    chosen = assign_outages(silent)
    assert {d: g for d, g in chosen.items()} == {d: "area:1:1" for d in silent if d != "far"}


def test_a_vendor_gateway_down_is_a_gateway_outage_across_areas():
    silent = {f"d{i}": ("gateway:A", f"area:{i % 3}:0") for i in range(9)}
    assert set(assign_outages(silent).values()) == {"gateway:A"}


def test_below_the_threshold_nothing_and_earlier_silences_of_the_outage_count():
    silent = {f"d{i}": ("gateway:A", "area:1:1") for i in range(OUTAGE_MIN_DEVICES - 1)}
    assert assign_outages(silent) == {}
    assert assign_outages({"late": ("gateway:A", "area:2:2")}, {"gateway:A": OUTAGE_MIN_DEVICES}) == {
        "late": "gateway:A"}
